"""Your own question/answer files: a folder with forget.jsonl and retain.csv trains and evaluates, with
probability and ROUGE-L (no truth ratio without alternative answers)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import DataError


def _own_files(world: Path, folder: Path) -> Path:
    folder.mkdir()
    forget = json.loads((world / "forget10.json").read_text())[:6]
    retain = json.loads((world / "retain90.json").read_text())[:12]
    (folder / "forget.jsonl").write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]})
                                                 + "\n" for r in forget))
    with (folder / "retain.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["question", "answer"])
        writer.writeheader()
        writer.writerows({"question": r["question"], "answer": r["answer"]} for r in retain)
    return folder


def test_own_question_answer_files_train_and_evaluate(world, target_model, tmp_path):
    data = _own_files(world, tmp_path / "mine")
    out = tmp_path / "run"
    result = api.run_unlearning(load_config(overrides=[
        f"out={out}", f"model.path={target_model}", "data.benchmark=custom", f"data.path={data}",
        "method.name=NPO_GDR", "train.max_steps=2", "train.batch_size=2", "eval.max_new_tokens=8"]))
    metrics = result["metrics"]["metrics"]
    # no alternative answers: no truth ratio, so no forget quality
    assert set(metrics) == {"forget_prob", "forget_rougeL_recall", "retain_prob", "retain_rougeL_recall",
                            "model_utility"}
    # model utility = harmonic mean of the retain set's probability and ROUGE-L, worked out here
    p, r = metrics["retain_prob"], metrics["retain_rougeL_recall"]
    expected = 0.0 if min(p, r) == 0 else 2 / (1 / p + 1 / r)
    assert metrics["model_utility"] == pytest.approx(expected)
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["set"] for s in samples].count("forget") == 6 and [s["set"] for s in samples].count("retain") == 12
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and "forget_npo" in log[0] and "retain_gdr" in log[0]


def test_own_files_without_a_retain_file_is_a_clear_error(world, tmp_path):
    from unlearn.data.benchmarks import load_benchmark

    data = _own_files(world, tmp_path / "mine")
    (data / "retain.csv").unlink()
    with pytest.raises(DataError, match="no retain file"):
        load_benchmark("custom", str(data))


def test_a_holdout_file_is_evaluated_and_never_trained(world, tmp_path):
    from unlearn.data.benchmarks import load_benchmark

    data = _own_files(world, tmp_path / "mine")
    (data / "holdout.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    bench = load_benchmark("custom", str(data))
    assert [(s.name, s.role, s.alternatives) for s in bench.eval_data()] == [
        ("forget", "forget", False), ("retain", "retain", False), ("holdout", "holdout", False)]
    assert bench.train_splits() == ["forget", "retain"] and bench.retain_train_splits() == ["retain"]


def test_csv_lists_written_by_pandas_are_read_as_lists(tmp_path):
    """pandas writes a list cell as its Python text (['a', 'b']), not JSON; it is read as a literal."""
    import pandas as pd

    from unlearn.data.benchmarks import load_benchmark

    folder = tmp_path / "csv"
    folder.mkdir()
    rows = [{"question": "Where?", "answer": "Rome", "paraphrased_answer": "In Rome",
             "perturbed_answer": ["Paris", "Oslo's port"]}]
    pd.DataFrame(rows).to_csv(folder / "forget.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "retain.csv", index=False)
    assert "['Paris', " in (folder / "forget.csv").read_text()  # Python's form, not JSON
    forget = load_benchmark("custom", str(folder)).eval_data(["forget"])[0]
    assert forget.records[0]["perturbed_answer"] == ["Paris", "Oslo's port"]


@pytest.mark.slow
def test_every_evidence_command_on_own_files_without_a_retrained_model(world, target_model, tmp_path):
    """calibrate, compare, probe, sequence, audit and report on runs made from your own files (split
    'forget', not forget10), with no retain model anywhere: each finishes and says what it lacks."""
    from conftest import run_cli

    data = _own_files(world, tmp_path / "mine")
    holdout = json.loads((world / "retain90.json").read_text())[20:26]
    (data / "holdout.jsonl").write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]})
                                                + "\n" for r in holdout))
    common = [f"model.path={target_model}", "data.benchmark=custom", f"data.path={data}", "train.batch_size=2",
              "train.lr=1e-2", "eval.max_new_tokens=6"]
    runs = []
    for method in ("GA", "NPO_GDR"):
        out = tmp_path / method
        proc = run_cli("unlearn", f"out={out}", f"method.name={method}", "train.max_steps=2", *common)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(out)
    proc = run_cli("calibrate", str(runs[0]), "--metric", "retain_prob", "--tol", "0.25", timeout=600)
    assert proc.returncode == 0 and "alpha" in proc.stdout, proc.stderr[-2000:]
    proc = run_cli("compare", *map(str, runs), "--metric", "retain_prob", "--tol", "0.25", timeout=600)
    assert proc.returncode == 0 and "| 2 |" in proc.stdout, proc.stderr[-2000:]
    proc = run_cli("probe", str(runs[0]), "--probes", "int8,paraphrase", timeout=600)
    assert proc.returncode == 0 and "| int8 |" in proc.stdout, proc.stderr[-2000:]
    proc = run_cli("audit", str(runs[0]), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cert = json.loads((runs[0] / "audit.json").read_text())
    assert cert["request"]["forget_split"] == "forget" and cert["request"]["records"] == 6
    skipped = {c["name"]: c["reason"] for c in cert["checks"] if c["status"] == "skipped"}
    assert "no retain evaluation" in skipped["forget quality"]
    proc = run_cli("sequence", "--requests", "forget[:3],forget[3:6]", f"out={tmp_path / 'seq'}", "method.name=GA",
                   "train.max_steps=1", *common, timeout=600)
    assert proc.returncode == 0 and "| request2 |" in proc.stdout, proc.stderr[-2000:]
    report = tmp_path / "report.html"
    proc = run_cli("report", *map(str, runs), "--sequence", str(tmp_path / "seq"), "--out", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = report.with_suffix(".md").read_text()
    assert "each method a blue point" in text and "diamond" not in text  # the caption names only what is drawn


def test_the_readme_example_on_own_files(world, target_model, tmp_path):
    """README's Python example for your own files: unlearn with LoRA, then ask both models."""
    from unlearn import ask, unlearn
    from unlearn.eval.answers import model_label

    data = _own_files(world, tmp_path / "my_data")
    cfg = load_config(overrides=["data.benchmark=custom", f"data.path={data}", f"model.path={target_model}",
                                 f"out={tmp_path / 'mine'}", "method.name=NPO_GDR", "lora.r=8", "train.max_steps=2",
                                 "train.batch_size=2", "eval.max_new_tokens=6"])
    result = unlearn(cfg)
    assert {"forget_prob", "retain_rougeL_recall", "model_utility"} <= set(result["metrics"]["metrics"])
    rows = ask([str(target_model), str(tmp_path / "mine")], cfg, split="forget")
    assert len(rows) == 6 and all(list(r["answers"]) == [model_label(str(target_model)), "mine"] for r in rows)
