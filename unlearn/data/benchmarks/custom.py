"""The custom benchmark: your own files in one folder, with your own column names (`data.columns`).

The class docstring says which files and fields it reads; the kind of each file (qa, text, ...)
comes from its first record (:func:`unlearn.data.adapters.detect_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.data.adapters import detect_kind
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, SetSpec


@BENCHMARKS.register("custom")
@dataclass
class CustomBenchmark(Benchmark):
    """Your own files in one folder (JSON, JSON lines, CSV, Parquet or plain .txt): `forget.*` (or the
    file data.forget_split names) and `retain.*`, with `question` and `answer` columns (kind qa) or a
    `text` column (kind text, scored raw and trained on without a template). Other column names:
    `data.columns` (e.g. {question: prompt, answer: response}). Records that also carry
    `paraphrased_answer` and `perturbed_answer` (a list, or one string) get TOFU's truth ratio and
    forget quality; otherwise probability and ROUGE-L are reported. An optional `holdout.*` is
    evaluated, never trained; any other file is an evaluation set when named (role general)."""

    name = "custom"
    uses_columns: ClassVar[bool] = True

    def __post_init__(self) -> None:
        folder = Path(self.path)
        if self.forget_name == "forget10" and folder.is_dir() and not any(folder.glob("forget10.*")):
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")  # the default name
        super().__post_init__()
        if "retain" not in self.files:
            raise DataError(f"{self.path} has no retain file; add retain.jsonl (or .json, .csv, .parquet) with "
                            "question and answer fields")

    @property
    def retain_split(self) -> str:
        return "retain"

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        return detect_kind(first_row, self.columns, source)

    def train_splits(self) -> list[str]:
        return [self.forget_split, "retain"]

    def retain_train_splits(self) -> list[str]:
        return ["retain"]

    def eval_specs(self) -> list[SetSpec]:
        """forget, retain, and `holdout.*` when present: facts never trained on, whose answers must
        stay right."""
        specs = [SetSpec("forget", self.forget_split, "forget"), SetSpec("retain", "retain", "retain")]
        if "holdout" in self.files:
            specs.append(SetSpec("holdout", "holdout", "holdout"))
        return specs

    def extra_eval_specs(self) -> list[SetSpec]:
        return [SetSpec(s, s, "general") for s in sorted(self.files)]
