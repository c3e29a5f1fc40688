"""The knowundo benchmark: KnowUnDo ("To Forget or Not? Towards Practical Knowledge Unlearning for
Large Language Models", Tian et al., 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import ConfigError, DataError
from unlearn.data.benchmarks.base import BENCHMARKS, Benchmark, ForgetAndRetain, SetSpec


@BENCHMARKS.register("knowundo")
@dataclass
class KnowUnDoBenchmark(ForgetAndRetain, Benchmark):
    """KnowUnDo from one domain's folder (its repository's dataset/KnowUnDo/privacy or .../copyright):
    JSON lists of {text (the question), labels (the answer)}. Files: unlearn_train / unlearn_val (the
    knowledge to forget) and retention_train / retention_val (to keep); `forget.*` / `retain.*` work
    too. Unlearning reads the *_train files, evaluation the *_val files (the *_train ones when there is
    no *_val). The *_val files ask other facts about the same people, so, as in the authors' repository
    (their target is fine-tuned on full.json, the union of the four files), the target model is
    fine-tuned on every file and the retain model on the retention files: the facts evaluated are
    facts the target was taught. Other column names: data.columns."""

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

    def _val(self, split: str) -> list[str]:
        """The *_val file of `split` ("forget" or "retain") when the folder has one (evaluated, and taught)."""
        found = self._alias(f"{split}_eval")
        return [] if found == self._alias(split) else [found]

    def train_splits(self) -> list[str]:
        return [self.forget_split, *self._val("forget"), "retain", *self._val("retain")]

    def retain_train_splits(self) -> list[str]:
        return ["retain", *self._val("retain")]


SUBSET_FILES = {"unlearn_train": "train_rows", "retention_train": "train_rows", "unlearn_val": "eval_rows",
                "retention_val": "eval_rows"}
"""The files a KnowUnDo subset cuts, and the option that gives each one's number of rows."""


def check_knowundo_subset(train_rows: int | None = None, eval_rows: int | None = None) -> None:
    for name, value in (("train_rows", train_rows), ("eval_rows", eval_rows)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"knowundo_subset {name} {value!r} must be a positive integer (or absent: all rows)")


def write_knowundo_subset(source: str | Path, out: str | Path, train_rows: int | None = None,
                          eval_rows: int | None = None) -> dict[str, Any]:
    """Write the first `train_rows` rows of a KnowUnDo domain folder's unlearn_train and retention_train
    files and the first `eval_rows` of its *_val files (None: all) to `out`, with its LICENSE and a
    subset.json that records how; returns subset.json. So that a small model is fine-tuned and unlearned
    on it within hours on a CPU (the sweep's `knowundo_subset` benchmark)."""
    import json
    import shutil

    from unlearn.core.atomic import atomic_folder

    check_knowundo_subset(train_rows, eval_rows)
    source, out = Path(source), Path(out)
    limits = {"train_rows": train_rows, "eval_rows": eval_rows}
    cut = {}
    for name, option in SUBSET_FILES.items():
        path = source / f"{name}.json"
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DataError(f"{path} cannot be read as a JSON list ({err}); give a KnowUnDo domain folder "
                            "(dataset/KnowUnDo/privacy of https://github.com/zjunlp/unlearn)") from None
        if not isinstance(rows, list):
            raise DataError(f"{path} holds no JSON list of {{text, labels}} records; give a KnowUnDo domain folder")
        cut[name] = rows[:limits[option]]
    manifest = {"source": str(source), **limits, "rows": {name: len(rows) for name, rows in cut.items()},
                "made_by": "unlearn.data.benchmarks.knowundo.write_knowundo_subset"}
    with atomic_folder(out) as tmp:
        for name, rows in cut.items():
            (tmp / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        if (source / "LICENSE").is_file():
            shutil.copy2(source / "LICENSE", tmp / "LICENSE")
        (tmp / "subset.json").write_text(json.dumps(manifest, indent=1))
    return manifest
