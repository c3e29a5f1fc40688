"""Metrics made from other metrics: forget quality, model utility, MIA AUCs and PrivLeak.

Forget quality and PrivLeak compare the evaluated model with a reference model trained without the
forget set (the retain model). They are only defined when the reference was evaluated on exactly the
same samples; `check_same_samples` makes that a one-line error instead of a meaningless p-value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from unlearn.core.errors import DataError
from unlearn.core.files import read_json, read_json_lines
from unlearn.eval import metrics as M
from unlearn.eval.registry import HIGHER, Derived, Direction, closest_to, derived

UTILITY_PARTS = ("prob", "rougeL_recall", "truth_ratio")


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
        meta = read_json(metrics, remake)
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

    roles = {"forget_quality": ("forget",), "mia": ("forget", "holdout")}
    needed = {role for name in derived for role in roles.get(name, ())}
    model = ModelResults(ids={d.name: [digest(r) for r in d.records] for d in datasets if d.role in needed})
    for name in model.ids:
        if name in reference.ids:
            check_same_samples(DerivedContext(model, reference), name, "forget_quality / PrivLeak")


def _forget_quality(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    out: dict[str, tuple[float | None, Direction]] = {}
    for name, values in ctx.model.per_sample.items():
        if ctx.model.roles.get(name) != "forget" or "truth_ratio_raw" not in values:
            continue
        key = "forget_quality" if name == "forget" else f"{name}_forget_quality"
        if ctx.reference is None:
            out[key] = (None, HIGHER)
            ctx.notes[key] = "needs the retain model's evaluation: --retain-model PATH or eval.retain_reference"
            continue
        check_same_samples(ctx, name, key)
        ours = [v for v in values["truth_ratio_raw"] if v is not None]
        theirs = [v for v in ctx.reference.per_sample[name].get("truth_ratio_raw", []) if v is not None]
        out[key] = (M.forget_quality(ours, theirs) if ours and theirs else None, HIGHER)
    return out


def _model_utility(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    sets = [n for n, role in ctx.model.roles.items() if role in ("retain", "general")]
    parts = [ctx.model.values[k] for s in sets for m in UTILITY_PARTS
             if (k := f"{s}_{m}") in ctx.model.values and ctx.model.values[k] is not None]
    if not parts:
        return {}
    ctx.notes["model_utility"] = f"harmonic mean of {len(parts)} numbers: {{{', '.join(UTILITY_PARTS)}}} on {', '.join(sets)}"
    return {"model_utility": (M.harmonic_mean(parts), HIGHER)}


def _pairs(ctx: DerivedContext) -> list[tuple[str, str, str]]:
    """(forget set, holdout set, key stem): forget <-> holdout, privleak_forget <-> privleak_holdout, ..."""
    out = []
    for name, role in ctx.model.roles.items():
        holdout = name.replace("forget", "holdout")
        if role == "forget" and holdout != name and ctx.model.roles.get(holdout) == "holdout":
            stem = name.replace("forget", "").strip("_")
            out.append((name, holdout, "" if stem in ("", "privleak") else stem + "_"))
    return out


def _mia(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    from unlearn.eval.privacy import mia_auc, privleak

    out: dict[str, tuple[float | None, Direction]] = {}
    for forget, holdout, stem in _pairs(ctx):
        f_vals, h_vals = ctx.model.per_sample[forget], ctx.model.per_sample[holdout]
        for metric in sorted(k for k in f_vals if k.startswith("mia_") and k in h_vals):
            attack = metric.removeprefix("mia_")
            auc = mia_auc(f_vals[metric], h_vals[metric])
            auc_key, leak_key = f"{stem}mia_{attack}_auc", f"{stem}privleak_{attack}"
            ref = ctx.reference
            if ref is None or any(metric not in ref.per_sample.get(s, {}) for s in (forget, holdout)):
                out[auc_key] = (auc, closest_to(0.5))
                ctx.notes[leak_key] = ("PrivLeak needs the retain model's evaluation (--retain-model PATH)" if ref is None
                                       else f"PrivLeak needs the retain model's evaluation with {metric} on {forget} "
                                            f"and {holdout}: evaluate it with the same suites")
                continue
            check_same_samples(ctx, forget, leak_key)
            check_same_samples(ctx, holdout, leak_key)
            ref_auc = mia_auc(ref.per_sample[forget][metric], ref.per_sample[holdout][metric])
            out[auc_key] = (auc, closest_to(ref_auc))
            out[leak_key] = (privleak(auc, ref_auc), closest_to(0.0))
    return out


derived(Derived("forget_quality", "p-value of the KS test between this model's and the retain model's truth ratios",
                ("truth_ratio_raw",), _forget_quality,
                paper="TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)"))
derived(Derived("model_utility", "harmonic mean of probability, ROUGE-L and truth ratio on retain and general sets",
                ("prob", "rougeL_recall", "truth_ratio"), _model_utility,
                paper="TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)"))
derived(Derived("mia", "AUC of each membership attack, forget (members) vs holdout; PrivLeak against the retain "
                "model's AUC: ((1-AUC) - (1-AUC_ret)) / (1-AUC_ret) x 100", ("mia_loss",), _mia,
                paper="MUSE: Machine Unlearning Six-Way Evaluation for Language Models (Shi et al., 2024)"))


def compute_derived(names: list[str], ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    from unlearn.eval.registry import DERIVED

    out: dict[str, tuple[float | None, Direction]] = {}
    for name in names:
        out.update(DERIVED.get(name).compute(ctx))
    return out



