"""Sequential deletion requests on the tiny model: three forget sets, one after another."""

from __future__ import annotations

import json

import yaml


def test_three_requests_write_the_metric_matrix(world, target_model, tmp_path):
    from tests.conftest import run_cli

    out = tmp_path / "seq"
    requests = "forget10[:3],forget10[3:6],forget10[6:9]"
    proc = run_cli("sequence", "--requests", requests, f"out={out}", f"model.path={target_model}", f"data.path={world}",
                   "method.name=GA", "train.lr=1e-2", "train.max_steps=3", "train.batch_size=3",
                   "eval.max_new_tokens=8", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(f"sequence, after {row}: sample" in proc.stderr for row in ("original", "request1", "request3"))
    result = json.loads((out / "sequence.json").read_text())
    assert [r["after"] for r in result["rows"]] == ["original", "request1", "request2", "request3"]
    for row in result["rows"]:  # every row measures every request's forget set and the retain set
        assert set(row["sets"]) == {"request1", "request2", "request3", "retain"}
        assert all(0 <= v["prob"] <= 1 and 0 <= v["rougeL_recall"] <= 1 for v in row["sets"].values())
    prob = [[row["sets"][f"request{j}"]["prob"] for j in (1, 2, 3)] for row in result["rows"]]
    # each request lowers the probability of the set it asked to forget, against the model before it
    for i in (1, 2, 3):
        assert prob[i][i - 1] < prob[i - 1][i - 1]
    # each request trained on the model of the one before: a chain of run folders
    assert [r["model"] for r in result["rows"][1:]] == [str(out / f"request{i}" / "model") for i in (1, 2, 3)]
    cfg = yaml.safe_load((out / "request2" / "config.yaml").read_text())
    assert cfg["model"]["path"] == str(out / "request1" / "model") and cfg["data"]["forget_split"] == "forget10[3:6]"
    assert "| request3 |" in proc.stdout and "[" in proc.stdout  # not-yet-requested sets in brackets


def test_bad_requests_fail_before_training(world, target_model, tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("sequence", "--requests", "forget10[:3]", f"out={tmp_path}", f"model.path={target_model}",
                   f"data.path={world}")
    assert proc.returncode == 2 and "at least two requests" in proc.stderr
    proc = run_cli("sequence", "--requests", "forget10[:3],forget77", f"out={tmp_path}", f"model.path={target_model}",
                   f"data.path={world}")
    assert proc.returncode == 2 and "forget77" in proc.stderr and not (tmp_path / "request1").exists()


def test_sequence_table_brackets_future_requests():
    from unlearn.evidence.sequence import sequence_table

    requests = ["forget10[:2]", "forget10[2:4]"]

    def row(after, a, b):
        return {"after": after, "sets": {"request1": {"rougeL_recall": a}, "request2": {"rougeL_recall": b},
                                         "retain": {"rougeL_recall": 0.9}}}

    table = sequence_table({"requests": requests, "method": "GA", "rows": [row("original", 1.0, 1.0),
                                                                            row("request1", 0.1, 0.8),
                                                                            row("request2", 0.2, 0.1)]})
    assert "| original | [1.000] | [1.000] | 0.900 |" in table
    assert "| request1 | 0.100 | [0.800] | 0.900 |" in table and "| request2 | 0.200 | 0.100 | 0.900 |" in table
