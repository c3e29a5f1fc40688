"""The generator interface and its call cache.

A `Request` names a task (e.g. "rephrase", "vague_answer", "verify"), carries the structured fields
(question, answer) and the prompt text rendered for a language model. Model backends read the prompt;
the offline rule-based backend reads the task and fields. `CachedGenerator` wraps any backend: every
call is stored on disk under its backend, model, task, fields, prompt and parameters, so a rerun makes
no call and an interrupted run resumes where it stopped (the store is `unlearn.core.cache.PassCache`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from unlearn.core.cache import PassCache, digest

SAMPLE_TEMPERATURE = 0.7
"""Temperature of a regeneration round (a rejected answer asked again); the first round is greedy."""


@dataclass(frozen=True)
class Request:
    task: str
    fields: dict[str, str] = field(default_factory=dict)
    prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        return digest(asdict(self))


class Generator(Protocol):
    name: str
    """Backend and model, e.g. "offline-rules-v1" or "hf:HuggingFaceTB/SmolLM2-135M-Instruct"."""
    settings: dict[str, Any]
    """What else shapes its answers (max tokens, sampling); part of the cache key."""

    def generate(self, requests: Sequence[Request]) -> list[str]:
        ...


class CachedGenerator:
    """Any generator behind a disk cache (folder None: in memory only). `calls` counts backend calls."""

    def __init__(self, backend: Generator, folder: str | Path | None, batch_size: int = 16):
        self.backend, self.batch_size = backend, batch_size
        self.name = backend.name
        self.cache = PassCache(folder, {"generator": backend.name, **getattr(backend, "settings", {})})
        self.calls = 0
        self.hits = 0

    def generate(self, requests: Sequence[Request]) -> list[str]:
        keys = [r.key() for r in requests]
        missing = [(k, r) for k, r in dict(zip(keys, requests)).items() if k not in self.cache]
        self.hits += len(requests) - len(missing)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            outputs = self.backend.generate([r for _, r in chunk])
            self.calls += len(chunk)
            self.cache.add((k, out) for (k, _), out in zip(chunk, outputs))  # stored batch by batch
        return [self.cache.get(k) for k in keys]
