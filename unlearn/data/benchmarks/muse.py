"""The muse benchmark: a folder in the layout of MUSE ("MUSE: Machine Unlearning Six-Way Evaluation
for Language Models", Shi et al., 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import DataError, warn
from unlearn.data.adapters import canonical_records, parse_split
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, SetSpec, role_of
from unlearn.data.formats import read_records


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
    / privleak_retain / privleak_holdout (text). KnowMem questions are asked after MUSE's in-context
    examples (knowmem/forget_qa_icl.json, retain_qa_icl.json: "Question: ...\nAnswer: ...\n\n" each).
    Training: the raw forget corpus is the forget split, raw retain1 the retain split; their texts are
    trained on without a prompt template, in blocks of data.max_length tokens as MUSE's training cuts
    them (data.text_chunks); an empty document is skipped with a warning that counts them."""

    name = "muse"
    suites: ClassVar[tuple[str, ...]] = ("muse",)
    subfolders: ClassVar[tuple[str, ...]] = ("raw", "knowmem", "verbmem", "privleak")
    default_columns: ClassVar[dict[str, dict[str, str]]] = {"completion": {"question": "prompt", "answer": "gt"}}
    ICL: ClassVar[dict[str, str]] = {"knowmem/forget_qa": "knowmem/forget_qa_icl",
                                     "knowmem/retain_qa": "knowmem/retain_qa_icl",
                                     "knowmem/retain2_qa": "knowmem/retain2_qa_icl"}
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

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        rows = super().read_rows(path)
        if path.parent.name != "raw":
            return rows
        kept = [r for r in rows if not (isinstance(r.get("text"), str) and not r["text"].strip())]
        if not kept:
            raise DataError(f"{path}: every document is empty; put the corpus's text in it")
        if len(kept) < len(rows):
            warn(f"{path}: {len(rows) - len(kept)} empty documents of {len(rows)} skipped")
        return kept

    def read_split(self, split: str) -> tuple[list[dict[str, Any]], str, str, int]:
        """A KnowMem set's records carry MUSE's in-context examples as their `context` (when the folder
        has the _icl file)."""
        records, kind, source, start = super().read_split(split)
        icl = self.ICL.get(parse_split(split)[0])
        if icl in self.files:
            path = self.files[icl]
            examples = canonical_records(read_records(path), "qa", str(path))
            context = "".join(f"Question: {e['question']}\nAnswer: {e['answer']}\n\n" for e in examples)
            records = [{**r, "context": context} for r in records]
        return records, kind, source, start

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
