"""TOFU restricted to fewer authors, in TOFU's own layout, so that a small model can be fine-tuned and
unlearned on it within hours on a CPU (the sweep's `tofu_subset` benchmark).

TOFU ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024) holds 200 fictitious authors
of 20 questions each, in order: retain90 is authors 1-180, forget10 authors 181-200, forget05 the last
10, forget01 the last 2 (each forget split inside the next). A subset of N authors (a multiple of 10)
keeps that shape: its forget10 is TOFU's last N/10 authors, its retain90 TOFU's first 0.9 N authors, and
forget05 / forget01 are the last 5% / 1% of its rows (whole authors when N is a multiple of 20 / 100,
else the last questions of the last author, as TOFU's splits are nested). retain95 / retain99 are the
complements. Evaluation sets: forget rows keep their paraphrased and perturbed answers; retain_perturbed
keeps TOFU's rows of the kept retain authors, at most 10% of the subset's rows as in TOFU (400 of 4000);
real_authors_perturbed and world_facts_perturbed keep their first `general_rows` rows (all by default).
idontknow.jsonl and the licence are copied; subset.json records how the folder was made.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from unlearn.core.atomic import atomic_folder
from unlearn.core.errors import ConfigError, DataError
from unlearn.data.formats import read_records

TOFU_AUTHORS, QUESTIONS_PER_AUTHOR = 200, 20
GENERAL = ("real_authors_perturbed", "world_facts_perturbed")
COPIED = ("idontknow.jsonl", "LICENSE")


def check_subset(authors: int = 20, general_rows: int | None = None) -> None:
    if not isinstance(authors, int) or authors < 10 or authors % 10 or authors > TOFU_AUTHORS:
        raise ConfigError(f"tofu_subset authors {authors!r} must be a multiple of 10 from 10 to {TOFU_AUTHORS} "
                          "(forget10 is a tenth of them)")
    if general_rows is not None and (not isinstance(general_rows, int) or general_rows < 1):
        raise ConfigError(f"tofu_subset general_rows {general_rows!r} must be a positive integer (or absent: all)")


def write_tofu_subset(source: str | Path, out: str | Path, authors: int = 20,
                      general_rows: int | None = None) -> dict[str, Any]:
    """Write the subset of `authors` authors of the TOFU folder `source` to `out`; returns subset.json."""
    check_subset(authors, general_rows)
    source, out = Path(source), Path(out)
    retain90, forget10 = read_records(source / "retain90.json"), read_records(source / "forget10.json")
    if len(retain90) + len(forget10) != TOFU_AUTHORS * QUESTIONS_PER_AUTHOR:
        raise DataError(f"{source} is not TOFU's full release (retain90 + forget10 hold "
                        f"{len(retain90) + len(forget10)} rows, not {TOFU_AUTHORS * QUESTIONS_PER_AUTHOR})")
    rows = authors * QUESTIONS_PER_AUTHOR
    forget = forget10[len(forget10) - rows // 10:]
    retain = retain90[: rows - len(forget)]
    splits = {"forget10": forget, "forget05": forget[len(forget) - rows // 20:],
              "forget01": forget[len(forget) - rows // 100:]}
    everything = retain + forget
    for pct in ("10", "05", "01"):
        kept = {r["question"] for r in splits[f"forget{pct}"]}
        splits[f"retain{100 - int(pct)}"] = [r for r in everything if r["question"] not in kept]
    retained = {r["question"] for r in retain}
    splits["retain_perturbed"] = [r for r in read_records(source / "retain_perturbed.json")
                                  if r["question"] in retained][: rows // 10]
    for name in GENERAL:
        splits[name] = read_records(source / f"{name}.json")[:general_rows]
    manifest = {"source": str(source), "authors": authors, "general_rows": general_rows,
                "rows": {name: len(records) for name, records in splits.items()},
                "made_by": "unlearn.data.benchmarks.tofu_subset.write_tofu_subset"}
    with atomic_folder(out) as tmp:
        for name, records in splits.items():
            (tmp / f"{name}.json").write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        for name in COPIED:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp / name)
        (tmp / "subset.json").write_text(json.dumps(manifest, indent=1))
    return manifest
