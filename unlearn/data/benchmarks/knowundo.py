"""The knowundo benchmark: KnowUnDo ("To Forget or Not? Towards Practical Knowledge Unlearning for
Large Language Models", Tian et al., 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("knowundo")
@dataclass
class KnowUnDoBenchmark(ForgetAndRetain, Benchmark):
    """KnowUnDo from one domain's folder (its repository's dataset/KnowUnDo/privacy or .../copyright):
    JSON lists of {text (the question), labels (the answer)}. Files: unlearn_train / unlearn_val (the
    knowledge to forget) and retention_train / retention_val (to keep); `forget.*` / `retain.*` work
    too. Training reads the *_train files, evaluation the *_val files (the *_train ones when there is
    no *_val). Other column names: data.columns."""

    name = "knowundo"
    uses_columns: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...]] = ("tofu", "relearn")
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"qa": {"question": "text", "answer": "labels"}}
    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {
        "forget": ("unlearn_train", "forget"),
        "retain": ("retention_train", "retain"),
        "forget_eval": ("unlearn_val", "unlearn_train", "forget"),
        "retain_eval": ("retention_val", "retention_train", "retain"),
    }

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        for split in ("forget", "retain"):
            self._alias(split)

    def _alias(self, split: str) -> str:
        found = next((n for n in self.NAMES[split] if n in self.files), None)
        if found is None:
            raise DataError(f"{self.path} has no {split} file; add {self.NAMES[split][0]}.json "
                            "(a JSON list of {text, labels}) or set data.path to a KnowUnDo domain folder")
        return found

    def _check_forget_split(self) -> None:
        pass  # the forget file has one of several names: _alias checks it

    def split_files(self, split: str) -> list[Path]:
        return super().split_files(self._alias(split) if split in self.NAMES else split)

    def eval_specs(self) -> list[SetSpec]:
        return [SetSpec("forget", "forget_eval", "forget"), SetSpec("retain", "retain_eval", "retain")]

    def extra_eval_specs(self) -> list[SetSpec]:
        return [SetSpec(s, s, "forget" if s.startswith(("unlearn", "forget")) else "retain")
                for s in sorted(self.files)]
