"""Benchmark adapters: which files hold which split, and what each evaluation set is for.

Both adapters read the TOFU layout ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al.,
2024): forgetXX / retainYY files of question-answer records, `*_perturbed` evaluation sets with a
paraphrased answer and a list of perturbed (wrong) answers. The synthetic world (`unlearn world`)
is written in that layout, with two general-knowledge sets in the role of TOFU's real authors and
world facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearn.data.formats import SUFFIXES, file_sha256, read_records, require_fields
from unlearn.errors import DataError
from unlearn.registry import Registry

BENCHMARKS: Registry[type["Benchmark"]] = Registry("benchmark")

QA_FIELDS = ("question", "answer")


@dataclass
class EvalSet:
    """An evaluation set and how TOFU scores it.

    role: "forget", "retain" or "general". On "general" sets (TOFU's real authors / world facts),
    probability is normalised over the true and perturbed answers and the truth ratio compares
    perturbed answers with the original answer instead of a paraphrase (SPEC 5.1).
    """

    name: str
    split: str
    role: str
    alternatives: bool = True
    """Records carry a paraphrased and perturbed answers (truth ratio, forget quality); own files may not."""


@dataclass
class Benchmark:
    path: str
    forget_split: str = "forget10"
    files: dict[str, Path] = field(default_factory=dict)
    name = "base"
    general_splits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        folder = Path(self.path)
        if not folder.is_dir():
            raise DataError(self._missing_folder_message())
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in SUFFIXES:
                self.files.setdefault(p.stem, p)
        if self.forget_split not in self.files:
            forgets = sorted(s for s in self.files if s.startswith("forget")) or ["none"]
            raise DataError(
                f"forget split {self.forget_split!r} not found in {self.path}; available: {', '.join(forgets)}"
            )

    def _missing_folder_message(self) -> str:
        return f"benchmark folder {self.path!r} does not exist; set data.path to the benchmark's folder"

    # -- splits ---------------------------------------------------------------------------------
    @property
    def retain_split(self) -> str:
        """retainYY paired with forgetXX (YY = 100 - XX)."""
        pct = self.forget_split.removeprefix("forget")
        if not pct.isdigit():
            raise DataError(f"cannot pair a retain split with forget split {self.forget_split!r}")
        return f"retain{100 - int(pct):02d}"

    def load(self, split: str, fields: tuple[str, ...] = QA_FIELDS) -> list[dict[str, Any]]:
        if split not in self.files:
            raise DataError(
                f"split {split!r} not found in {self.path}; available: {', '.join(sorted(self.files))}"
            )
        path = self.files[split]
        records = read_records(path)
        require_fields(records, fields, str(path))
        return records

    def train_splits(self) -> list[str]:
        """What the target model is fine-tuned on: everything trainable."""
        raise NotImplementedError

    def retain_train_splits(self) -> list[str]:
        """What the retain (gold-standard) model is fine-tuned on: everything but the forget set."""
        return [self.retain_split, *self.general_splits]

    def eval_sets(self) -> list[EvalSet]:
        return [
            EvalSet("forget", self.forget_split, "forget"),
            EvalSet("retain", "retain_perturbed", "retain"),
            *(EvalSet(s, s, "general") for s in self.general_splits),
        ]

    def data_hashes(self) -> dict[str, str]:
        return {p.name: file_sha256(p) for p in sorted(self.files.values())}


@BENCHMARKS.register("synthetic")
@dataclass
class SyntheticBenchmark(Benchmark):
    name = "synthetic"
    general_splits: tuple[str, ...] = ("general_places", "general_things")

    def _missing_folder_message(self) -> str:
        return (
            f"benchmark folder {self.path!r} does not exist; make one with "
            f"`unlearn world --out {self.path}` or set data.path"
        )

    def train_splits(self) -> list[str]:
        return ["full", *self.general_splits]


@BENCHMARKS.register("tofu")
@dataclass
class TofuBenchmark(Benchmark):
    """TOFU from a local folder (see shared/data/tofu). `data.path=locuslab/TOFU` reads the hub
    dataset into a cache folder first (needs network)."""

    name = "tofu"
    general_splits: tuple[str, ...] = ("real_authors_perturbed", "world_facts_perturbed")

    def __post_init__(self) -> None:
        if not Path(self.path).is_dir() and "/" in self.path and not self.path.startswith((".", "/")):
            self.path = str(download_tofu(self.path))
        super().__post_init__()

    def train_splits(self) -> list[str]:
        pct = int(self.forget_split.removeprefix("forget"))
        return [self.forget_split, f"retain{100 - pct:02d}"]

    def retain_train_splits(self) -> list[str]:
        # TOFU's real authors / world facts come from pre-training, not from fine-tuning.
        return [self.retain_split]


@BENCHMARKS.register("custom")
@dataclass
class CustomBenchmark(Benchmark):
    """Your own question/answer files in one folder (JSON, JSON lines, CSV or Parquet, with `question`
    and `answer` fields): `forget.*` (or the file data.forget_split names) and `retain.*`. Records that
    also carry `paraphrased_answer` and `perturbed_answer` get TOFU's truth ratio and forget quality;
    otherwise probability and ROUGE-L are reported. An optional `holdout.*` is evaluated, never trained."""

    name = "custom"

    def __post_init__(self) -> None:
        folder = Path(self.path)
        if self.forget_split == "forget10" and folder.is_dir() and not any(folder.glob("forget10.*")):
            self.forget_split = "forget"  # the default split name of TOFU-style folders
        super().__post_init__()
        if "retain" not in self.files:
            raise DataError(f"{self.path} has no retain file; add retain.jsonl (or .json, .csv, .parquet) with "
                            "question and answer fields")

    @property
    def retain_split(self) -> str:
        return "retain"

    def train_splits(self) -> list[str]:
        return [self.forget_split, "retain"]

    def retain_train_splits(self) -> list[str]:
        return ["retain"]

    def eval_sets(self) -> list[EvalSet]:
        """forget, retain, and `holdout.*` when present: facts never trained on, whose answers must
        stay right (they count in model utility)."""
        sets = [EvalSet("forget", self.forget_split, "forget", self._alternatives(self.forget_split)),
                EvalSet("retain", "retain", "retain", self._alternatives("retain"))]
        if "holdout" in self.files:
            sets.append(EvalSet("holdout", "holdout", "retain", self._alternatives("holdout")))
        return sets

    def _alternatives(self, split: str) -> bool:
        first = self.load(split)[0]
        return bool(first.get("paraphrased_answer")) and bool(first.get("perturbed_answer"))


TOFU_HUB_CONFIGS = {
    "forget01": "forget01_perturbed",
    "forget05": "forget05_perturbed",
    "forget10": "forget10_perturbed",
    "retain90": "retain90",
    "retain95": "retain95",
    "retain99": "retain99",
    "retain_perturbed": "retain_perturbed",
    "real_authors_perturbed": "real_authors_perturbed",
    "world_facts_perturbed": "world_facts_perturbed",
}


def download_tofu(repo: str, cache: str | Path | None = None) -> Path:
    """Write the hub dataset's configs as JSON files in the TOFU folder layout."""
    import json

    from unlearn.utils import cache_dir

    folder = Path(cache or cache_dir() / repo.replace("/", "__"))
    if (folder / "forget10.json").is_file():
        return folder
    from unlearn.atomic import atomic_folder, disk_errors

    try:
        import datasets

        tables = {split: datasets.load_dataset(repo, config, split="train").to_list()
                  for split, config in TOFU_HUB_CONFIGS.items()}
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, ...
        raise DataError(
            f"cannot load TOFU from the hub ({repo!r}): {type(err).__name__}: {str(err).splitlines()[0]}; "
            "without network, set data.path to a local TOFU folder"
        ) from None
    # Written to a temporary folder and renamed: an interrupted download never looks complete.
    with disk_errors(f"the TOFU download to {folder}"), atomic_folder(folder) as tmp:
        for split, rows in tables.items():
            (tmp / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False))
    return folder


def load_benchmark(name: str, path: str, forget_split: str = "forget10") -> Benchmark:
    cls = BENCHMARKS.get(name)
    return cls(path=path, forget_split=forget_split)
