"""One model's evaluation results, an earlier evaluation read back, and derived metrics computed on them.

Derived metrics that compare the evaluated model with a reference trained without the forget set
(forget quality, PrivLeak) are only defined when the reference was evaluated on exactly the same
samples; `check_same_samples` makes that a one-line error instead of a meaningless p-value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearn.core.errors import DataError
from unlearn.core.files import read_json, read_json_lines
from unlearn.eval.registry import DERIVED, Direction


@dataclass
class ModelResults:
    """One model's evaluation: per dataset the sample ids and per-sample values, and the aggregates."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    per_sample: dict[str, dict[str, list]] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    source: str = "this evaluation"

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ModelResults":
        """Read an earlier evaluation's samples.jsonl and metrics.json (`unlearn eval --out FOLDER`)."""
        folder = Path(folder)
        samples, metrics = folder / "samples.jsonl", folder / "metrics.json"
        if not samples.is_file() or not metrics.is_file():
            raise DataError(f"reference evaluation {str(folder)!r} has no samples.jsonl and metrics.json; evaluate "
                            "the retain model there first (`unlearn eval MODEL --out FOLDER`) or pass --retain-model")
        remake = "evaluate the retain model there again (`unlearn eval MODEL --out FOLDER`)"
        meta = read_metrics(metrics, remake)
        out = cls(values=dict(meta.get("metrics", {})), source=str(folder))
        for lineno, row in enumerate(read_json_lines(samples, remake), 1):
            if not isinstance(row, dict) or "id" not in row or "set" not in row:
                raise DataError(f"{samples}: row {lineno} has no sample id; it was written by an older version, "
                                "evaluate the retain model again")
            name = row["set"]
            out.ids.setdefault(name, []).append(row["id"])
            for key, value in row.items():
                if isinstance(value, (int, float)) or value is None:
                    out.per_sample.setdefault(name, {}).setdefault(key, []).append(value)
        out.roles = dict(meta.get("roles", {}))
        return out


@dataclass
class DerivedContext:
    model: ModelResults
    reference: ModelResults | None = None
    notes: dict[str, str] = field(default_factory=dict)


def check_same_samples(ctx: DerivedContext, dataset: str, metric: str) -> None:
    """The reference must have been evaluated on the very samples this model was."""
    ref = ctx.reference
    ours = ctx.model.ids.get(dataset, [])
    theirs = ref.ids.get(dataset) if ref else None
    if theirs is None:
        raise DataError(f"{metric}: the reference {ref.source if ref else ''} has no results on set {dataset!r}; "
                        "evaluate the retain model with the same data and eval.splits")
    if sorted(theirs) != sorted(ours):
        common = len(set(theirs) & set(ours))
        raise DataError(f"{metric}: the reference {ref.source} was evaluated on other samples of {dataset!r} "
                        f"({len(theirs)} samples, {common} in common with this evaluation's {len(ours)}); "
                        "evaluate the retain model on the same data file and slice")


def check_reference_samples(datasets: list, reference: ModelResults, derived: list[str]) -> None:
    """Before any model loads: the sets that forget quality and PrivLeak compare must be the very samples
    the reference was evaluated on."""
    from unlearn.core.cache import digest

    comparing = [DERIVED.get(name) for name in derived if DERIVED.get(name).compares_reference]
    needed = {role for d in comparing for role in d.roles}
    model = ModelResults(ids={d.name: [digest(r) for r in d.records] for d in datasets if d.role in needed})
    for name in model.ids:
        if name in reference.ids:
            check_same_samples(DerivedContext(model, reference), name, " / ".join(d.name for d in comparing))


def compute_derived(names: list[str], ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    """Every derived metric's results; one that finds nothing to read says so in the notes (a suite asked
    for on data that lacks its sets never drops a number without a word)."""
    out: dict[str, tuple[float | None, Direction]] = {}
    for name in names:
        d = DERIVED.get(name)
        got = d.compute(ctx)
        if not got and not any(k == name or k.endswith(name.removeprefix("mia_")) for k in ctx.notes):
            roles = " and ".join(d.roles) if d.roles else "any"
            ctx.notes[name] = (f"not computed: no evaluation sets it can read ({roles} sets with "
                               f"{', '.join(d.inputs)})" + (" - a forget set needs a holdout partner of the same "
                                                             "name, e.g. privleak_forget and privleak_holdout"
                                                             if d.roles == ("forget", "holdout") else ""))
        out.update(got)
    return out


def read_metrics(path: str | Path, remake: str) -> dict[str, Any]:
    """A metrics.json this toolkit wrote: a mapping with a "metrics" mapping of names to numbers. Another
    tool's file, or one edited into another shape, is a one-line DataError naming it and `remake`."""
    data = read_json(path, remake)
    values = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(values, dict) or not all(v is None or isinstance(v, (int, float)) for v in values.values()):
        raise DataError(f"{path} is not a metrics file of this toolkit (no 'metrics' mapping of names to numbers); "
                        f"{remake}")
    return data
