"""A generator backend named by one string (the CLI's --generator, eval.judge_model):

- ``offline``: the rule-based generator (no model);
- ``hf:PATH``: a local causal LM folder; ``hf:PATH#FILE.gguf`` loads a GGUF file inside it;
- ``http://HOST:PORT/v1#MODEL`` (or https): an OpenAI-compatible server, key from $OPENAI_API_KEY.

Backends that need heavy packages are imported only when named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unlearn.core.errors import ConfigError

BACKENDS = ("offline", "hf:PATH or hf:PATH#FILE.gguf (a local causal LM)",
            "http://HOST:PORT/v1#MODEL (an OpenAI-compatible server; key from $OPENAI_API_KEY)")


def check_spec(spec: str) -> None:
    """A one-line error when `spec` names no valid backend, a missing model folder or no model after
    '#' (nothing is loaded)."""
    if spec.startswith("hf:") and len(spec) > 3:
        from unlearn.models.loading import model_spec

        path = model_spec(spec[3:])[0]
        if not Path(path).exists():
            raise ConfigError(f"generator {spec!r}: {path} does not exist; give a local model folder")
    elif spec.startswith(("http://", "https://")):
        if not spec.partition("#")[2]:
            raise ConfigError(f"generator {spec!r}: name the model after '#', e.g. http://127.0.0.1:8000/v1#my-model")
    elif spec != "offline":
        raise ConfigError(f"generator {spec!r} is not available; valid: {', '.join(BACKENDS)}")


def judge_spec(spec: str, key: str = "eval.judge_model", task: str = "rate answers") -> str:
    """A model option that takes a generator (eval.judge_model, eval.entity_model) as a generator spec: a
    plain folder means hf:FOLDER; `offline` is refused, since rules cannot do the model's `task`."""
    if spec == "offline":
        raise ConfigError(f"{key}=offline: the rule-based generator cannot {task}; name a model "
                          "(hf:PATH, a model folder or http://HOST:PORT/v1#MODEL)")
    return spec if spec.startswith(("hf:", "http://", "https://")) else "hf:" + spec


def make_generator(spec: str) -> Any:
    check_spec(spec)
    if spec == "offline":
        from unlearn.generate.offline import OfflineGenerator

        return OfflineGenerator()
    if spec.startswith("hf:"):
        from unlearn.generate.local import LocalGenerator
        from unlearn.models.loading import model_spec

        path, gguf_file = model_spec(spec[3:])
        return LocalGenerator.from_path(path, gguf_file=gguf_file)
    from unlearn.generate.http import from_spec

    return from_spec(spec)
