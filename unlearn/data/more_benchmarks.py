"""Benchmarks beyond the TOFU layout: MUSE, KnowUnDo and WMDP-style multiple choice.

* muse: a folder in the layout of MUSE ("MUSE: Machine Unlearning Six-Way Evaluation for Language
  Models", Shi et al., 2024).
* knowundo: KnowUnDo ("To Forget or Not? Towards Practical Knowledge Unlearning for Large Language
  Models", Tian et al., 2024).
* wmdp: multiple-choice sets in the format of WMDP ("The WMDP Benchmark: Measuring and Reducing
  Malicious Use With Unlearning", Li et al., 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.data.benchmarks import BENCHMARKS, Benchmark, SetSpec, role_of
from unlearn.core.errors import DataError


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


class _ForgetAndRetain:
    """Trained on the forget split and a split named "retain"; the retain model on "retain" alone."""

    @property
    def retain_split(self) -> str:
        return "retain"

    def train_splits(self) -> list[str]:
        return [self.forget_split, "retain"]

    def retain_train_splits(self) -> list[str]:
        return ["retain"]


@BENCHMARKS.register("knowundo")
@dataclass
class KnowUnDoBenchmark(_ForgetAndRetain, Benchmark):
    """KnowUnDo from one domain's folder (its repository's dataset/KnowUnDo/privacy or .../copyright):
    JSON lists of {text (the question), labels (the answer)}. Files: unlearn_train / unlearn_val (the
    knowledge to forget) and retention_train / retention_val (to keep); `forget.*` / `retain.*` work
    too. Training reads the *_train files, evaluation the *_val files (the *_train ones when there is
    no *_val). Other column names: data.columns."""

    name = "knowundo"
    uses_columns: ClassVar[bool] = True
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


@BENCHMARKS.register("wmdp")
@dataclass
class WmdpBenchmark(_ForgetAndRetain, Benchmark):
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
