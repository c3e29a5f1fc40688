"""What every benchmark adapter shares: the :class:`Benchmark` base class, the registry of adapters,
and the functions that make a benchmark by name (:func:`load_benchmark`) or from the data config
(:func:`benchmark_from_config`).

A benchmark scans its folder for data files (one split per file, named by the file's stem), checks
that the forget split is there, reads splits into canonical records (:mod:`unlearn.data.adapters`,
which also parses and applies the slices a split name may carry: `forget10[:50%]`) and says which
evaluation sets it offers (:class:`SetSpec`). The adapters, one module each beside this one, change
only what differs: file names, kinds, which splits train which model.

This module imports no adapter: the package (:mod:`unlearn.data.benchmarks`) imports them all, and
any import of this module goes through the package first, so every adapter is registered before
:func:`load_benchmark` looks one up.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from unlearn.core.errors import DataError
from unlearn.core.registry import Registry
from unlearn.data.adapters import (
    EvalData,
    apply_slice,
    canonical_records,
    check_perturbed_counts,
    check_paraphrases,
    has_alternatives,
    parse_split,
    training_records,
)
from unlearn.data.formats import SUFFIXES, file_sha256, read_records, require_fields

BENCHMARKS: Registry[type["Benchmark"]] = Registry("benchmark")

QA_FIELDS = ("question", "answer")


@dataclass(frozen=True)
class SetSpec:
    """An evaluation set a benchmark offers: its name, the split it reads (may carry a slice) and its
    role ("forget", "retain", "general" or "holdout"). The kind comes from the split's file."""

    name: str
    split: str
    role: str


def _plain_text(first_row: dict[str, Any], columns: dict[str, str]) -> bool:
    """A file of plain strings (.txt, a JSON array of strings): rows whose one column is `text`. Such a
    file is kind text whatever data.columns says."""
    return set(first_row) == {"text"} and columns.get("text", "text") not in first_row


def role_of(split: str) -> str:
    """The role a split's name implies: forget*, retain*, holdout*, anything else general knowledge."""
    for role in ("forget", "retain", "holdout"):
        if split.startswith(role):
            return role
    return "general"


@dataclass
class Benchmark:
    path: str
    forget_split: str = "forget10"
    columns: dict[str, str] = field(default_factory=dict)
    """data.columns: canonical field -> your column name (adapters with `uses_columns`)."""
    files: dict[str, Path] = field(default_factory=dict)
    name = "base"
    general_splits: tuple[str, ...] = ()
    subfolders: ClassVar[tuple[str, ...]] = ()
    """Folders scanned besides the top level; their files are named `folder/stem`."""
    uses_columns: ClassVar[bool] = False
    suites: ClassVar[tuple[str, ...]] = ("tofu",)
    """The metric suites eval.suites=auto (the default) evaluates this benchmark with."""
    default_columns: ClassVar[dict[str, dict[str, str]]] = {}
    """kind -> the benchmark's own column names (canonical field -> column)."""

    def __post_init__(self) -> None:
        folder = Path(self.path)
        if not str(self.path).strip():
            raise DataError(f"data.path is not set; set data.path to the {self.name} benchmark's folder"
                            + (" (make one with `unlearn world --out FOLDER`)" if self.name == "synthetic" else ""))
        if folder.is_file():
            raise DataError(f"data.path {self.path!r} is a file; set data.path to the folder that holds it "
                            f"({str(folder.parent)!r}) and data.forget_split to its name ({folder.stem!r})")
        if not folder.is_dir():
            raise DataError(self._missing_folder_message())
        self._scan(folder)
        self._check_forget_split()

    def _scan(self, folder: Path) -> None:
        for prefix, sub in [("", folder), *((f"{s}/", folder / s) for s in self.subfolders)]:
            if sub.is_dir():
                try:
                    found = sorted(sub.iterdir())
                except OSError as err:
                    raise DataError(f"cannot read the folder {sub} ({err.strerror}); check its permissions") from None
                for p in found:
                    if p.suffix.lower() not in SUFFIXES:
                        continue
                    if not p.is_file() and (p.exists() or p.is_symlink()) and not p.is_dir():
                        target = f" (a link to {os.path.realpath(p)})" if p.is_symlink() else ""
                        raise DataError(f"{p} is not a regular file{target}; replace it with the data file, or "
                                        "remove it from the folder")
                    if p.is_file():
                        self.files.setdefault(prefix + p.stem, p)

    def _check_forget_split(self) -> None:
        if self.forget_name not in self.files:
            forgets = sorted(s for s in self.files if s.startswith("forget"))
            if forgets:
                raise DataError(f"forget split {self.forget_name!r} not found in {self.path}; available: "
                                f"{', '.join(forgets)} (set data.forget_split)")
            found = ", ".join(sorted(self.files)) or f"no data files ({', '.join(SUFFIXES)})"
            raise DataError(f"forget split {self.forget_name!r} not found in {self.path}, which holds {found}; set "
                            f"data.path to the {self.name} benchmark's folder, or data.forget_split to a file's name")

    def _missing_folder_message(self) -> str:
        return f"benchmark folder {self.path!r} does not exist; set data.path to the benchmark's folder"

    # -- splits ---------------------------------------------------------------------------------
    @property
    def forget_name(self) -> str:
        """forget_split without its slice."""
        return parse_split(self.forget_split)[0]

    @property
    def retain_split(self) -> str:
        """retainYY paired with forgetXX (YY = 100 - XX)."""
        pct = self.forget_name.removeprefix("forget")
        if not pct.isdigit():
            raise DataError(f"cannot pair a retain split with forget split {self.forget_split!r}")
        return f"retain{100 - int(pct):02d}"

    def split_files(self, split: str) -> list[Path]:
        """The file(s) holding a split (without slice)."""
        if split not in self.files:
            raise DataError(
                f"split {split!r} not found in {self.path}; available: {', '.join(sorted(self.files))}"
            )
        return [self.files[split]]

    def split_kind(self, split: str, first_row: dict[str, Any], source: str) -> str:
        """The kind of a split's records; "qa" unless the adapter says otherwise."""
        return "qa"

    def columns_for(self, kind: str) -> dict[str, str]:
        user = self.columns if self.uses_columns else {}
        return {**self.default_columns.get(kind, {}), **user}

    def read_rows(self, path: Path) -> list[dict[str, Any]]:
        return read_records(path)

    def read_split(self, split: str) -> tuple[list[dict[str, Any]], str, str, int]:
        """(canonical records, kind, source, file row of the first record) of a split that may carry
        a slice. An empty file or an empty slice is a DataError naming the file."""
        name, slice_text = parse_split(split)
        paths = self.split_files(name)
        records: list[dict[str, Any]] = []
        kind = ""
        for path in paths:
            rows = self.read_rows(path)
            if not rows:
                raise DataError(f"{path} has no records; put at least one record in it (or remove the file)")
            if _plain_text(rows[0], self.columns_for("text")):
                kind = kind or "text"
                records.extend(canonical_records(rows, "text", str(path)))
                continue
            kind = kind or self.split_kind(name, rows[0], str(path))
            records.extend(canonical_records(rows, kind, str(path), self.columns_for(kind),
                                             columns_settable=self.uses_columns))
        where = str(paths[0]) if len(paths) == 1 else f"{self.path} ({name}: {', '.join(p.name for p in paths)})"
        source = f"{where}{slice_text}"
        n = len(records)
        records, start = apply_slice(records, slice_text, split)
        if not records:
            raise DataError(f"{source} selects no rows of the {n} in {where}; widen the slice")
        return records, kind, source, start

    def load(self, split: str, fields: tuple[str, ...] = QA_FIELDS) -> list[dict[str, Any]]:
        """Training records of a split (may carry a slice): canonical records; text and completion
        records become `{"question", "answer", "raw": True}` samples scored without a template."""
        records, kind, source, _ = self.read_split(split)
        records = training_records(records, kind)
        raw = kind in ("text", "completion")
        require_fields(records, [f for f in fields if not (raw and f == "question")], source)
        return records

    def train_splits(self) -> list[str]:
        """What the target model is fine-tuned on: everything trainable."""
        raise NotImplementedError

    def retain_train_splits(self) -> list[str]:
        """What the retain (gold-standard) model is fine-tuned on: everything but the forget set."""
        return [self.retain_split, *self.general_splits]

    # -- evaluation -----------------------------------------------------------------------------
    def eval_specs(self) -> list[SetSpec]:
        """The default evaluation sets."""
        return [
            SetSpec("forget", self.forget_split, "forget"),
            SetSpec("retain", "retain_perturbed", "retain"),
            *(SetSpec(s, s, "general") for s in self.general_splits),
        ]

    def extra_eval_specs(self) -> list[SetSpec]:
        """Sets evaluated only when named (eval_data(names)): every other split, by its own name."""
        return [SetSpec(s, s, role_of(s)) for s in sorted(self.files)]

    def eval_data(self, names: list[str] | None = None) -> list[EvalData]:
        """The evaluation sets `names` (default: the benchmark's default sets); a name may carry a
        slice, `forget[:50%]`, applied after the split's own. Unknown names are a DataError listing
        the available ones."""
        defaults = self.eval_specs()
        catalogue = {s.name: s for s in reversed([*defaults, *self.extra_eval_specs()])}
        wanted = list(names) if names else [s.name for s in defaults]
        seen: set[str] = set()
        out = []
        for spec_text in wanted:
            name, slice_text = parse_split(spec_text)
            if name not in catalogue:
                raise DataError(f"unknown evaluation set {name!r} for the {self.name} benchmark in {self.path}; "
                                f"available: {', '.join(sorted(catalogue))}")
            if name in seen:
                raise DataError(f"evaluation set {name!r} is named twice; name each set once")
            seen.add(name)
            out.append(self._eval_set(catalogue[name], slice_text, spec_text))
        return out

    def _eval_set(self, spec: SetSpec, slice_text: str, spec_text: str) -> EvalData:
        records, kind, source, start = self.read_split(spec.split)
        if slice_text:
            n = len(records)
            records, offset = apply_slice(records, slice_text, spec_text)
            start, source = start + offset, source + slice_text
            if not records:
                raise DataError(f"{source} selects no rows of the {n}; widen the slice")
        if kind == "qa":
            check_perturbed_counts(records, source, start)
            check_paraphrases(records, source, spec.role, start)
        return EvalData(spec.name, spec.role, kind, records, source,
                        alternatives=kind == "qa" and has_alternatives(records, spec.role))

    def data_hashes(self) -> dict[str, str]:
        root = Path(self.path)
        return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(self.files.values())}


def holdout_spec(bench: Benchmark) -> list[SetSpec]:
    """holdoutXX with the forget split's XX, when the folder has one (synthetic and tofu)."""
    split = "holdout" + bench.forget_name.removeprefix("forget")
    return [SetSpec("holdout", split, "holdout")] if split in bench.files else []


class ForgetAndRetain:
    """Trained on the forget split and a split named "retain"; the retain model on "retain" alone
    (knowundo and wmdp)."""

    @property
    def retain_split(self) -> str:
        return "retain"

    def train_splits(self) -> list[str]:
        return [self.forget_split, "retain"]

    def retain_train_splits(self) -> list[str]:
        return ["retain"]


def load_benchmark(name: str, path: str, forget_split: str = "forget10",
                   columns: dict[str, str] | None = None) -> Benchmark:
    # Every adapter is registered already: importing this module imported the package, which imports them.
    cls = BENCHMARKS.get(name)
    return cls(path=path, forget_split=forget_split, columns=dict(columns or {}))


def benchmark_from_config(data: Any) -> Benchmark:
    """The benchmark a DataConfig names (benchmark, path, forget_split, columns)."""
    return load_benchmark(data.benchmark, data.path, data.forget_split, getattr(data, "columns", None))
