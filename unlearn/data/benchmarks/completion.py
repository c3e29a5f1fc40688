"""The completion benchmark: copyrighted text, the setting of FLAT's Harry Potter experiment ("LLM
Unlearning via Loss Adjustment with Only Forget Data", Wang et al., 2025): the model is given prefixes
of the text and must not complete them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("completion")
@dataclass
class CompletionBenchmark(ForgetAndRetain, Benchmark):
    """A folder written by `unlearn completions` (any text file or folder of them, a book or articles,
    cut into prefix/continuation pairs of exact token counts by a named tokenizer):

    forget.txt, retain.txt, holdout.txt        the documents (training reads forget and retain, as raw text)
    forget_completions.jsonl, ...              {prompt, continuation}: the pairs each set's metrics score
    general.txt                                a general text whose perplexity measures utility (optional)
    completions.json                           the tokenizer and token lengths the pairs were cut with

    Evaluation sets: forget (role forget), retain, holdout (when cut) and general (when present). The
    copyright suite generates eval.verbmem_tokens tokens after each prefix (set it to the folder's
    continuation length: FLAT's 200) and scores them against the true continuation."""

    name = "completion"
    suites: ClassVar[tuple[str, ...]] = ("copyright",)
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"completion": {"question": "prompt",
                                                                           "answer": "continuation"}}

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        for needed in ("forget_completions", "retain"):
            if needed not in self.files:
                raise DataError(f"{self.path} has no {needed} file; write the folder with `unlearn completions "
                                "--forget TEXT --retain TEXT --tokenizer MODEL --out FOLDER`")

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        return "completion" if split.endswith("_completions") else "text"

    def eval_specs(self) -> list[SetSpec]:
        specs = [SetSpec(role, f"{role}_completions", role) for role in ("forget", "retain", "holdout")
                 if f"{role}_completions" in self.files]
        return specs + ([SetSpec("general", "general", "general")] if "general" in self.files else [])

    def extra_eval_specs(self) -> list[SetSpec]:
        roles = {"forget": "forget", "retain": "retain", "holdout": "holdout"}
        return [SetSpec(s, s, roles.get(s.split("_")[0], "general")) for s in sorted(self.files)]
