"""The muse benchmark: a folder in the layout of MUSE ("MUSE: Machine Unlearning Six-Way Evaluation
for Language Models", Shi et al., 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, SetSpec, role_of


@BENCHMARKS.register("muse")
@dataclass
class MuseBenchmark(Benchmark):
    """MUSE from a local folder in its repository's layout (e.g. MUSE's data/news):

    raw/       forget, retain1, retain2, holdout: corpora (.txt: one document per blank-line block;
               .json: a list of strings or of {text})
    knowmem/   forget_qa.json, retain_qa.json (or retain2_qa.json): [{question, answer}]
    verbmem/   forget.json: [{prompt, gt}] (a text prefix and its true continuation)
    privleak/  forget.json, retain.json (or retain2.json), holdout.json: texts

    Evaluation sets: knowmem_forget / knowmem_retain (qa), verbmem_forget (completion), privleak_forget
    / privleak_retain / privleak_holdout (text). Training: the raw forget corpus is the forget split,
    raw retain1 the retain split; their texts are trained on without a prompt template."""

    name = "muse"
    subfolders: ClassVar[tuple[str, ...]] = ("raw", "knowmem", "verbmem", "privleak")
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"completion": {"question": "prompt", "answer": "gt"}}
    EVAL_FILES: ClassVar[tuple[tuple[str, tuple[str, ...], str], ...]] = (
        ("knowmem_forget", ("knowmem/forget_qa",), "forget"),
        ("knowmem_retain", ("knowmem/retain_qa", "knowmem/retain2_qa"), "retain"),
        ("verbmem_forget", ("verbmem/forget",), "forget"),
        ("privleak_forget", ("privleak/forget",), "forget"),
        ("privleak_retain", ("privleak/retain", "privleak/retain2"), "retain"),
        ("privleak_holdout", ("privleak/holdout",), "holdout"),
    )

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        if not self.files:
            raise DataError(f"{self.path} holds no MUSE files; expected raw/forget.txt, knowmem/forget_qa.json, "
                            "verbmem/forget.json or privleak/forget.json (MUSE's data/news layout)")

    def _check_forget_split(self) -> None:
        pass  # an evaluation-only folder has no raw corpora; loading the forget split says so

    def split_files(self, split: str) -> list[Path]:
        return super().split_files(split if "/" in split else f"raw/{split}")

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        folder = split.split("/")[0] if "/" in split else "raw"
        return {"knowmem": "qa", "verbmem": "completion"}.get(folder, "text")

    @property
    def retain_split(self) -> str:
        return "retain1"

    def train_splits(self) -> list[str]:
        return [self.forget_split, *self.retain_train_splits()]

    def retain_train_splits(self) -> list[str]:
        return [s for s in ("retain1", "retain2") if f"raw/{s}" in self.files] or ["retain1"]

    def eval_specs(self) -> list[SetSpec]:
        specs = []
        for name, candidates, role in self.EVAL_FILES:
            split = next((c for c in candidates if c in self.files), None)
            if split is not None:
                specs.append(SetSpec(name, split, role))
        return specs

    def extra_eval_specs(self) -> list[SetSpec]:
        return [SetSpec(f"raw_{s[4:]}", s, role_of(s[4:])) for s in sorted(self.files) if s.startswith("raw/")]
