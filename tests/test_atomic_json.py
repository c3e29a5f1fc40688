"""write_json writes strict JSON: a NaN or infinite metric becomes null (json.loads of strict parsers)."""

from __future__ import annotations

import json
import math

from unlearn.atomic import write_json


def test_non_finite_numbers_become_null(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"forget_prob": math.nan, "rows": [1.0, math.inf, -math.inf], "ok": 0.5, "path": tmp_path})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text

    def strict(token):
        raise ValueError(f"non-strict JSON token {token}")

    data = json.loads(text, parse_constant=strict)
    assert data == {"forget_prob": None, "rows": [1.0, None, None], "ok": 0.5, "path": str(tmp_path)}
