"""write_json writes strict JSON: a NaN or infinite metric becomes null (json.loads of strict parsers)."""

from __future__ import annotations

import json
import math

from unlearn.core.atomic import write_json


def test_non_finite_numbers_become_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"forget_prob": math.nan, "rows": [1.0, math.inf, -math.inf], "ok": 0.5, "path": tmp_path})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text

    def strict(token):
        raise ValueError(f"non-strict JSON token {token}")

    data = json.loads(text, parse_constant=strict)
    assert data == {"forget_prob": None, "rows": [1.0, None, None], "ok": 0.5, "path": str(tmp_path)}


def test_json_lines_are_strict_too():
    from pathlib import PurePosixPath

    from unlearn.core.atomic import json_line

    line = json_line({"loss": math.nan, "step": 3, "path": PurePosixPath("x/y")})
    assert line == '{"loss": null, "step": 3, "path": "x/y"}'


def test_a_non_finite_metric_gets_a_note_saying_why():
    from unlearn.eval.evaluator import _explain_non_finite

    values = {"forget_prob": math.nan, "retain_prob": 0.9, "forget_quality": None}
    per_sample = {"forget": {"prob": [0.5, math.nan, math.inf, 0.25]}, "retain": {"prob": [0.9]}}
    notes = {"forget_quality": "needs the retain model's evaluation"}
    _explain_non_finite(values, per_sample, notes)
    assert notes == {"forget_prob": "not a finite number (nan), written as null; 2 of 4 samples had no finite value",
                     "forget_quality": "needs the retain model's evaluation"}  # an existing note is kept
