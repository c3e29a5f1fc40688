"""The published learning-rate starting points (unlearn/methods/starting_points.json, written by
benchmarks/starting_points.py) say what their runs measured: each chosen rate meets the rule written in
its setting, every verdict follows from its cell's numbers, and a preset without a starting point has no
tried rate that meets the rule. The thresholds are restated here (forget kept at most 0.5, retain and
holdout kept at least 0.8), not read from the script."""

from __future__ import annotations

import pytest

from unlearn.methods import PRESETS
from unlearn.methods.describe import describe_method, load_starting_points

FORGOT_AT_MOST, KEPT_AT_LEAST = 0.5, 0.8
PUBLISHED = load_starting_points()


def _meets(cell: dict) -> bool:
    return (cell["forget_kept"] <= FORGOT_AT_MOST and cell["retain_kept"] >= KEPT_AT_LEAST
            and cell["holdout_kept"] >= KEPT_AT_LEAST)


def test_the_rule_in_the_file_is_the_one_checked_here():
    assert PUBLISHED["setting"]["rule"] == "forget kept <= 50%, retain and holdout kept >= 80%"


@pytest.mark.parametrize("name", sorted(PUBLISHED.get("presets", {})))
def test_each_published_entry_follows_from_its_runs(name):
    entry = PUBLISHED["presets"][name]
    assert name in PRESETS
    cells = [c for c in entry["tried"] if "failed" not in c]
    for cell in cells:
        expected = ("works" if cell["forget_kept"] <= FORGOT_AT_MOST else "kept") if min(
            cell["retain_kept"], cell["holdout_kept"]) >= KEPT_AT_LEAST else "damaged"
        assert cell["verdict"] == expected, cell
    if entry["lr"] is None:
        assert not any(_meets(c) for c in cells) and entry["why"]
    else:
        chosen = next(c for c in cells if c["lr"] == entry["lr"])
        assert _meets(chosen)
    shown = describe_method(name)
    assert "Starting point on a small real model" in shown and "not measured yet" not in shown


def test_a_preset_not_searched_says_so():
    missing = [n for n in PRESETS.in_order() if PRESETS.get(n).doc and n not in PUBLISHED.get("presets", {})]
    for name in missing:
        assert "not measured yet" in describe_method(name)
