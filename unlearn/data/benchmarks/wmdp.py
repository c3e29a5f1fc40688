"""The wmdp benchmark: multiple-choice sets in the format of WMDP ("The WMDP Benchmark: Measuring and
Reducing Malicious Use With Unlearning", Li et al., 2024), and the text corpora to train on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("wmdp")
@dataclass
class WmdpBenchmark(ForgetAndRetain, Benchmark):
    """WMDP-style multiple choice from a local folder: files of {question, choices (list), answer (the
    right choice's index)} -- the hub's cais/wmdp configs saved as wmdp-bio.json, wmdp-chem.json,
    wmdp-cyber.json, and any general set such as mmlu.json.

    Roles, by file name: a choice file whose name starts with "wmdp" or "forget" is a hazard set (role
    forget: its accuracy should fall to chance); every other choice file is general knowledge (role
    general: its accuracy should stay). Files whose name contains "corpus" are text corpora for
    training (cais/wmdp-corpora: bio-forget-corpus.jsonl, cyber-retain-corpus.jsonl, ... with a text
    field): the forget split is every corpus with "forget" in its name, the retain split every one with
    "retain". Other column names: data.columns (e.g. {label: answer_index})."""

    name = "wmdp"
    uses_columns: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...]] = ("general",)
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"choice": {"label": "answer"}}

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        if not self.eval_specs() and not self._corpora("forget"):
            raise DataError(f"{self.path} holds no multiple-choice file or corpus; add wmdp-bio.json (records "
                            "of question, choices, answer) or *forget-corpus*.jsonl (records of text)")

    def _check_forget_split(self) -> None:
        pass  # corpora are optional (evaluation only); loading the forget split says what is missing

    @staticmethod
    def is_corpus(split: str) -> bool:
        return "corpus" in split

    def _corpora(self, which: str) -> list[str]:
        return sorted(s for s in self.files if self.is_corpus(s) and which in s)

    def split_files(self, split: str) -> list[Path]:
        if split in ("forget", "retain") and split not in self.files:
            found = self._corpora(split)
            if not found:
                raise DataError(f"{self.path} has no {split} corpus; add a file named like "
                                f"bio-{split}-corpus.jsonl with a text field (or evaluate only)")
            return [self.files[s] for s in found]
        return super().split_files(split)

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        return "text" if split in ("forget", "retain") or self.is_corpus(split) else "choice"

    def eval_specs(self) -> list[SetSpec]:
        return [SetSpec(s, s, "forget" if s.lower().startswith(("wmdp", "forget")) else "general")
                for s in sorted(self.files) if not self.is_corpus(s)]

    def extra_eval_specs(self) -> list[SetSpec]:
        return [SetSpec(s, s, "forget" if "forget" in s else "retain") for s in sorted(self.files) if self.is_corpus(s)]
