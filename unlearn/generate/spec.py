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


def make_generator(spec: str) -> Any:
    if spec == "offline":
        from unlearn.generate.offline import OfflineGenerator

        return OfflineGenerator()
    if spec.startswith("hf:") and len(spec) > 3:
        from unlearn.generate.local import LocalGenerator

        path, _, gguf_file = spec[3:].partition("#")
        return LocalGenerator.from_path(path, gguf_file=gguf_file or None)
    if spec.startswith(("http://", "https://")):
        from unlearn.generate.http import from_spec

        return from_spec(spec)
    raise ConfigError(f"generator {spec!r} is not available; valid: {', '.join(BACKENDS)}")
