"""The harm benchmark: unlearning harmful responses, the setting of "Large Language Model Unlearning"
(Yao et al., 2024), whose forget data are harmful prompts with harmful responses (PKU-SafeRLHF), whose
normal data keep ordinary behaviour (TruthfulQA), and whose result is the harmful rate on harmful
prompts never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("harm")
@dataclass
class HarmBenchmark(ForgetAndRetain, Benchmark):
    """Harmful-response unlearning from one folder (JSON, JSON lines, CSV or Parquet files):

    forget.*       harmful prompts with the harmful responses to unlearn (red-team logs, PKU-SafeRLHF)
    normal.*       ordinary prompts with ordinary answers, the behaviour to keep (retain.* works too)
    unseen.*       harmful prompts never trained on, with a response (e.g. AdvBench's target), where the
                   harmful rate shows whether unlearning generalises (optional, strongly advised)
    normal_eval.*  ordinary prompts never trained on, with reference answers (optional)

    Columns `prompt` and `response` (data.columns renames them, e.g. {question: goal, answer: target}).
    Evaluation sets: forget and unseen (role forget: the harmful rate), normal (role retain) and
    normal_eval (role holdout): the refusal rate and ROUGE-L of ordinary answers. The project ships a
    small folder built from AdvBench and TruthfulQA in examples/harm/data."""

    name = "harm"
    uses_columns: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...]] = ("harm",)
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"qa": {"question": "prompt", "answer": "response"}}
    NAMES: ClassVar[dict[str, tuple[str, ...]]] = {"retain": ("normal", "retain")}

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        if not any(n in self.files for n in self.NAMES["retain"]):
            raise DataError(f"{self.path} has no normal file; add normal.csv (or .json, .jsonl, .parquet) with "
                            "prompt and response columns: ordinary prompts whose answers must stay")

    def split_files(self, split: str) -> list[Path]:
        if split in self.NAMES:
            split = next(n for n in self.NAMES[split] if n in self.files)
        return super().split_files(split)

    def eval_specs(self) -> list[SetSpec]:
        specs = [SetSpec("forget", self.forget_split, "forget")]
        if "unseen" in self.files:
            specs.append(SetSpec("unseen", "unseen", "forget"))
        specs.append(SetSpec("normal", "retain", "retain"))
        if "normal_eval" in self.files:
            specs.append(SetSpec("normal_eval", "normal_eval", "holdout"))
        return specs

    def extra_eval_specs(self) -> list[SetSpec]:
        roles = {"unseen": "forget", "normal": "retain", "retain": "retain", "normal_eval": "holdout"}
        return [SetSpec(s, s, "forget" if s.startswith("forget") else roles.get(s, "general"))
                for s in sorted(self.files)]
