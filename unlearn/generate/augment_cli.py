"""`unlearn augment`: ReLearn's augmented forget set from a forget file, as JSON lines with provenance,
and a summary beside it (OUT.summary.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unlearn.errors import ConfigError

BACKENDS = ("offline", "hf:PATH (a local causal LM folder)",
            "http://HOST:PORT/v1#MODEL (an OpenAI-compatible server; key from $OPENAI_API_KEY)")


def make_generator(spec: str) -> Any:
    if spec == "offline":
        from unlearn.generate.offline import OfflineGenerator

        return OfflineGenerator()
    if spec.startswith("hf:"):
        from unlearn.generate.local import LocalGenerator

        return LocalGenerator.from_path(spec[3:])
    if spec.startswith(("http://", "https://")):
        from unlearn.generate.http import from_spec

        return from_spec(spec)
    raise ConfigError(f"generator {spec!r} is not available; valid: {', '.join(BACKENDS)}")


def run_augment(forget: str, out: str, generator: str = "offline", generic: str | None = None,
                generic_ratio: float = 1.0, cache: str | None = None, seed: int = 0) -> dict[str, Any]:
    from unlearn.atomic import disk_errors, write_json, write_text
    from unlearn.data.formats import read_records, require_fields
    from unlearn.engine.progress import Progress
    from unlearn.generate.base import CachedGenerator
    from unlearn.generate.relearn_pipeline import AugmentConfig, augment
    from unlearn.utils import cache_dir

    records = read_records(forget)
    require_fields(records, ("question", "answer"), forget)
    generic_rows = read_records(generic) if generic else []
    if generic:
        require_fields(generic_rows, ("question", "answer"), generic)
    backend = CachedGenerator(make_generator(generator), cache or cache_dir() / "generate")
    cfg = AugmentConfig(generic_ratio=generic_ratio, seed=seed)
    with Progress(len(records), "augment") as progress:
        rows, summary = augment(records, backend, cfg, generic_rows, progress)
    summary.update(forget_file=str(forget), generic_file=generic)
    with disk_errors(f"the augmented set {out}"):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text(Path(out), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        write_json(Path(f"{out}.summary.json"), summary)
    return summary
