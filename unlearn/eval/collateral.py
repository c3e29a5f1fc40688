"""Collateral damage: how much of each set's knowledge a model kept against the model before unlearning.

For every evaluated set the share kept is `now / original` of its ROUGE-L recall (probability where the
set has no ROUGE-L). Forgetting lowers the forget set's share; a held-out set (holdout, general: data no
method trains on) should keep its share near 1. A held-out set that lost at least as large a share as
the forget set did, and more than MIN_DROP of it, is damage that a retain-set utility cannot show (a
method that refuses every question keeps the retain set it trains on and loses everything else): the
evaluation warns and names it.
"""

from __future__ import annotations

from typing import Any

from unlearn.eval.registry import result_key

HELD_OUT_ROLES = ("holdout", "general")
MIN_DROP = 0.1
"""A held-out set must lose more than this share of its score to count as damaged (noise stays quiet)."""
METRICS = ("rougeL_recall", "prob")
"""The score of a set, in order of preference."""


def collateral(now: dict[str, Any], original: dict[str, Any], roles: dict[str, str]) -> dict[str, Any]:
    """{"sets": {set: {role, metric, original, now, kept}}, "damaged": [held-out sets]} from two
    evaluations' values and the sets' roles."""
    sets: dict[str, dict[str, Any]] = {}
    for name, role in roles.items():
        metric = next((m for m in METRICS if now.get(result_key(name, m)) is not None
                       and original.get(result_key(name, m)) is not None), None)
        if metric is None:
            continue
        before, after = original[result_key(name, metric)], now[result_key(name, metric)]
        sets[name] = {"role": role, "metric": metric, "original": before, "now": after,
                      "kept": after / before if before > 0 else None}
    forget = [s["kept"] for s in sets.values() if s["role"] == "forget" and s["kept"] is not None]
    level = min(forget) if forget else None
    damaged = [name for name, s in sets.items() if s["role"] in HELD_OUT_ROLES and s["kept"] is not None
               and level is not None and s["kept"] <= max(level, 0.0) + 1e-9 and s["kept"] < 1 - MIN_DROP]
    return {"sets": sets, "damaged": damaged}


def collateral_lines(record: dict[str, Any]) -> list[str]:
    """The printed summary: each set's score before and after, forgetting first, damage marked."""
    order = {"forget": 0, "holdout": 1, "general": 2, "retain": 3}
    lines = []
    for name, s in sorted(record["sets"].items(), key=lambda item: order.get(item[1]["role"], 4)):
        kept = "n/a" if s["kept"] is None else f"{s['kept']:.0%}"
        mark = "  <- collateral damage: lost as much as the forget set" if name in record["damaged"] else ""
        lines.append(f"  {name} ({s['role']}): {s['metric']} {s['original']:.3f} -> {s['now']:.3f}, kept {kept}{mark}")
    return lines
