"""A generator backend named by one string (the CLI's --generator, eval.judge_model):

- ``offline``: the rule-based generator (no model);
- ``hf:PATH``: a local causal LM folder; ``hf:PATH#FILE.gguf`` loads a GGUF file inside it;
- ``http://HOST:PORT/v1#MODEL`` (or https): an OpenAI-compatible server, key from $OPENAI_API_KEY.

Backends that need heavy packages are imported only when named."""

from __future__ import annotations

from typing import Any

from unlearn.errors import ConfigError

BACKENDS = ("offline", "hf:PATH or hf:PATH#FILE.gguf (a local causal LM)",
            "http://HOST:PORT/v1#MODEL (an OpenAI-compatible server; key from $OPENAI_API_KEY)")


def check_spec(spec: str) -> None:
    """A one-line error listing the valid backends when `spec` names none of them (nothing is loaded)."""
    if spec != "offline" and not (spec.startswith("hf:") and len(spec) > 3) \
            and not spec.startswith(("http://", "https://")):
        raise ConfigError(f"generator {spec!r} is not available; valid: {', '.join(BACKENDS)}")


def make_generator(spec: str) -> Any:
    check_spec(spec)
    if spec == "offline":
        from unlearn.generate.offline import OfflineGenerator

        return OfflineGenerator()
    if spec.startswith("hf:"):
        from unlearn.generate.local import LocalGenerator

        path, _, gguf_file = spec[3:].partition("#")
        return LocalGenerator.from_path(path, gguf_file=gguf_file or None)
    from unlearn.generate.http import from_spec

    return from_spec(spec)
