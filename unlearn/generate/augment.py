"""`unlearn augment`: generated training targets from a forget file, as JSON lines with provenance, and
a summary beside it (OUT.summary.json). Kinds: `relearn` (ReLearn's augmented forget set, the default),
`alternatives` (a refusal per question: IdkDPO / IDK, data.alternatives) and `reasoning` (TRU's
reasoning refusals, data.targets)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from unlearn.core.errors import ConfigError, UnlearnError

KINDS = ("relearn", "alternatives", "reasoning")
"""ReLearn's set, then the kinds of unlearn.generate.targets (the CLI's --kind choices)."""


def augment_file(forget: str, out: str, generator: str = "offline", generic: str | None = None,
                generic_ratio: float = 1.0, cache: str | None = None, seed: int = 0,
                kind: str = "relearn", prompts: str | None = None, verifier: str | None = None) -> dict[str, Any]:
    from unlearn.core.atomic import check_writable, disk_errors, write_json, write_text
    from unlearn.core.files import cache_dir
    from unlearn.core.progress import Progress
    from unlearn.data.formats import read_records, require_fields
    from unlearn.generate.base import CachedGenerator
    from unlearn.generate.relearn_pipeline import AugmentConfig, augment
    from unlearn.generate.spec import check_spec, make_generator
    from unlearn.generate.targets import generate_targets

    if not (math.isfinite(generic_ratio) and generic_ratio >= 0):
        raise ConfigError(f"--generic-ratio {generic_ratio} must be a number of at least 0 (generic rows per "
                          "augmented row; ReLearn mixes 1:1)")
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind!r} is not available; valid: {', '.join(KINDS)}")
    if generic and kind != "relearn":
        raise ConfigError("--generic mixes generic data into ReLearn's set only; drop it or use --kind relearn")
    if prompts and not Path(prompts).is_file():
        raise ConfigError(f"--prompts {prompts!r} does not exist; copy unlearn/generate/prompts.yaml and edit it")
    for spec in (generator, verifier or generator):
        check_spec(spec)
    records = read_records(forget, "--forget")
    require_fields(records, ("question", "answer"), forget)
    check_writable(Path(out).expanduser().absolute().parent, "the folder of --out")
    generic_rows = read_records(generic, "--generic") if generic else []
    if generic:
        require_fields(generic_rows, ("question", "answer"), generic)
    folder = cache or cache_dir() / "generate"
    backend = CachedGenerator(make_generator(generator), folder)
    checker = CachedGenerator(make_generator(verifier), folder) if verifier and verifier != generator else None
    cfg = AugmentConfig(generic_ratio=generic_ratio, seed=seed, prompts=prompts, verifier=checker)
    with Progress(len(records), f"augment ({kind})") as progress:
        if kind == "relearn":
            rows, summary = augment(records, backend, cfg, generic_rows, progress)
        else:
            rows, summary = generate_targets(records, backend, kind, cfg, progress)
    summary.update(kind=kind, forget_file=str(forget), generic_file=generic)
    if not any(n for k, n in summary["rows"].items() if k != "generic"):
        raise UnlearnError(f"every generated answer was dropped after {cfg.max_rounds} verification rounds "
                           f"({summary['dropped_after_rounds']} dropped, nothing written); a small model rarely "
                           "passes its own check: try --verifier offline or a stronger generator")
    with disk_errors(f"the augmented set {out}"):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text(Path(out), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        write_json(Path(f"{out}.summary.json"), summary)
    return summary
