"""A pair's numbers over seeds: for each row (the target, the retain model, each method) and each result
key, the mean, the spread and how many seeds gave it; the calibrated values the same way; the cost.

The spread is the sample standard deviation over seeds (n - 1 in the denominator; 0 for one seed, shown
as no spread). Seeds that failed are left out of the mean and counted apart."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearn.eval.registry import result_key
from unlearn.report.entries import Entry, failed_entry, load_entry
from unlearn.report.keys import Keys
from unlearn.report.tables import key_columns

EXTRA = (("forget", "kfr"), ("retain", "krr"), ("forget", "truth_ratio"), ("forget", "completion_bleu"),
         ("forget", "completion_rougeL"), ("holdout", "completion_rougeL"), ("holdout", "text_ppl"),
         ("general", "text_ppl"))
"""Besides the report's key columns: ReLearn's knowledge ratios, TOFU's truth ratio, and the copyright suite's
BLEU, ROUGE-L and the perplexity of text never trained on (holdout, general) when evaluated."""
DERIVED_COLUMNS = ("forget_quality", "fq_gap")
EVERY_SET = ("harmful_rate", "refusal_rate")
"""Shown on every set that has them: the harm suite's rates on seen and unseen harmful prompts and on
trained and unseen ordinary ones."""


@dataclass(frozen=True)
class Stat:
    mean: float
    spread: float
    n: int


def aggregate(values: list[float]) -> Stat | None:
    """Mean and sample standard deviation of the finite values; None when there is none."""
    found = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not found:
        return None
    mean = sum(found) / len(found)
    spread = math.sqrt(sum((v - mean) ** 2 for v in found) / (len(found) - 1)) if len(found) > 1 else 0.0
    return Stat(mean, spread, len(found))


@dataclass
class Board:
    model: str
    benchmark: str
    keys: Keys
    columns: list[str]
    references: list[Entry]
    """The target (role original) and the retain model (role retrained) when there is one."""
    seeds: dict[str, list[Entry]]
    """Method -> one entry a seed (failed ones included)."""
    calibrations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    costs: dict[str, list[float]] = field(default_factory=dict)
    rank_by: str = "forget_rougeL_recall"

    def methods(self) -> list[str]:
        return list(self.seeds)

    def stat(self, row: str, key: str) -> Stat | None:
        """A row's value of `key` over seeds (the references have one)."""
        ref = next((e for e in self.references if e.name == row), None)
        entries = [ref] if ref else [e for e in self.seeds.get(row, []) if e.ok]
        return aggregate([e.metrics.get(key) for e in entries])

    def value(self, row: str, role: str | None, metric: str) -> float | None:
        """The mean of `metric` on the set of `role` (None: a model-level or derived metric)."""
        found = self.stat(row, self.key(role, metric))
        return found.mean if found else None

    def key(self, role: str | None, metric: str) -> str:
        return metric if role is None else self.keys.key(role, metric)

    def calibrated(self, method: str, key: str) -> Stat | None:
        """A calibrated value over seeds: "alpha", or a forget key at the calibrated alpha."""
        found = [c["alpha"] if key == "alpha" else c.get("forget", {}).get(key)
                 for c in self.calibrations.get(method, []) if "error" not in c]
        return aggregate(found)

    def failed(self, method: str) -> list[Entry]:
        return [e for e in self.seeds[method] if not e.ok]

    def higher_is_better(self, key: str) -> bool | None:
        for calibrations in self.calibrations.values():
            for c in calibrations:
                if key in (c.get("higher_is_better") or {}):
                    return c["higher_is_better"][key]
        return self.keys.higher_is_better(key)


def build_board(state: dict[str, Any], model: str, benchmark: str) -> Board:
    """The board of one pair from sweep.json's records and the folders they name."""
    pair = state["pairs"][f"{model}/{benchmark}"]
    references = [load_entry(pair["original"], "original", "target")]
    if pair.get("retain_eval"):
        references.append(load_entry(pair["retain_eval"], "retrained", "retain"))
    seeds: dict[str, list[Entry]] = {}
    calibrations: dict[str, list[dict[str, Any]]] = {}
    costs: dict[str, list[float]] = {}
    for cell in state["cells"]:
        if (cell["model"], cell["benchmark"]) != (model, benchmark):
            continue
        name, folder = cell["method"], Path(cell["folder"])
        entry = load_entry(folder, "method", name) if cell["status"] == "ok" \
            else failed_entry(name, folder, cell.get("error", "failed"), name)
        seeds.setdefault(name, []).append(entry)
        if "calibration" in cell:
            calibrations.setdefault(name, []).append(cell["calibration"])
        if cell["status"] == "ok":
            costs.setdefault(name, []).append(cell_seconds(folder))
    entries = [*references, *(e for runs in seeds.values() for e in runs)]
    keys = Keys(entries)
    columns = key_columns(entries, keys)
    extra = [keys.key(role, metric) for role, metric in EXTRA] + list(DERIVED_COLUMNS)
    extra += [result_key(dataset, metric) for metric in EVERY_SET for dataset in keys.roles]
    columns += [k for k in extra if k not in columns and any(e.metrics.get(k) is not None for e in entries)]
    return Board(model, benchmark, keys, columns, references, seeds, calibrations, costs,
                 state["grid"].get("rank_by", "forget_rougeL_recall"))


def cell_seconds(folder: Path) -> float:
    """A finished run's seconds: its cost report's total (cost.json) when it has one, else training plus
    evaluation seconds (train_state.json and metrics.json)."""
    try:
        return float(json.loads((folder / "cost.json").read_text())["total_s"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    seconds = 0.0
    for name, key in (("train_state.json", "train_seconds"), ("metrics.json", "eval_seconds")):
        try:
            seconds += float(json.loads((folder / name).read_text()).get(key) or 0.0)
        except (OSError, ValueError):
            pass
    return seconds
