"""The completion benchmark: copyrighted text, the setting of FLAT's Harry Potter experiment ("LLM
Unlearning via Loss Adjustment with Only Forget Data", Wang et al., 2025): the model is given prefixes
of the text and must not complete them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec, role_of


@BENCHMARKS.register("completion")
@dataclass
class CompletionBenchmark(ForgetAndRetain, Benchmark):
    """A folder written by `unlearn completions` (any text file or folder of them, a book or articles,
    cut into prefix/continuation pairs of exact token counts by a named tokenizer):

    forget.jsonl, retain.jsonl, holdout.jsonl   {prompt, continuation} pairs: the forget set, the retain set
                                                and text never trained on (optional)
    general.txt                                 a general text whose perplexity measures utility (optional)
    documents/                                  the source documents the pairs were cut from
    completions.json                            the tokenizer and token lengths the pairs were cut with

    Training reads the pairs raw (no prompt template): the continuation is the target, its prefix the
    context, so unlearning lowers exactly what evaluation asks for, and a method that pairs each forget
    sample with a template answer (FLAT, IDK) has a prefix to pair it with. Evaluation sets: forget,
    retain, holdout (when cut) and general (when present). The copyright suite generates
    eval.verbmem_tokens tokens after each prefix (set it to the folder's continuation length: FLAT's 200)
    and scores them against the true continuation. Other column names: data.columns."""

    name = "completion"
    uses_columns: ClassVar[bool] = True
    suites: ClassVar[tuple[str, ...]] = ("copyright",)
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"completion": {"question": "prompt",
                                                                           "answer": "continuation"}}

    def __post_init__(self) -> None:
        if self.forget_name == "forget10":
            self.forget_split = "forget" + self.forget_split.removeprefix("forget10")
        super().__post_init__()
        self.files.pop("completions", None)  # completions.json: the manifest, not a split
        if "retain" not in self.files:
            raise DataError(f"{self.path} has no retain file; write the folder with `unlearn completions "
                            "--forget TEXT --retain TEXT --tokenizer MODEL --out FOLDER`")

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        return "text" if "text" in first_row and len(first_row) == 1 else "completion"

    def eval_specs(self) -> list[SetSpec]:
        specs = [SetSpec("forget", self.forget_split, "forget"), SetSpec("retain", "retain", "retain")]
        if "holdout" in self.files:
            specs.append(SetSpec("holdout", "holdout", "holdout"))
        return specs + ([SetSpec("general", "general", "general")] if "general" in self.files else [])

    def extra_eval_specs(self) -> list[SetSpec]:
        return [SetSpec(s, s, role_of(s)) for s in sorted(self.files)]
