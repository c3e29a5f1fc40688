"""Data-parallel evaluation under `torchrun --nproc_per_node 2`: each process scores its share of every pass,
the results are gathered, and they equal one process's; the pass cache and the results are written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _unlearn(*args: str, processes: int = 1) -> subprocess.CompletedProcess:
    launch = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port",
               str(_free_port()), "-m", "unlearn"] if processes > 1 else [sys.executable, "-m", "unlearn"])
    proc = subprocess.run([*launch, *args], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow  # about 20 s on 2 cores; the next test runs two processes in the quick suite
def test_two_processes_evaluate_as_one(world, target_model, tmp_path):
    common = ["eval", str(target_model), "--data", str(world), "--suite", "tofu,privacy", "eval.max_new_tokens=8"]
    _unlearn(*common, "--out", str(tmp_path / "one"), f"eval.cache_dir={tmp_path / 'cache1'}")
    _unlearn(*common, "--out", str(tmp_path / "two"), f"eval.cache_dir={tmp_path / 'cache2'}", processes=2)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["metrics"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())["metrics"]
    assert set(one) == set(two)
    for key, value in one.items():
        if isinstance(value, float):
            assert two[key] == pytest.approx(value, abs=1e-6), key
        else:
            assert two[key] == value, key
    # the work was shared: the main process scored and generated its half (cost.json counts its own passes)
    scored = [json.loads((tmp_path / run / "cost.json").read_text())["evaluation"] for run in ("one", "two")]
    for key in ("sequences_scored", "answers_generated"):
        assert scored[1][key] == pytest.approx(scored[0][key] / 2, abs=1), key
    samples = (tmp_path / "two" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == len((tmp_path / "one" / "samples.jsonl").read_text().splitlines())
    # the cache: the same passes, every sample once in each file (the main process wrote the others' share)
    files = sorted((tmp_path / "cache2").glob("*.jsonl"))
    assert [f.name for f in files] == sorted(f.name for f in (tmp_path / "cache1").glob("*.jsonl"))
    for path in files:
        ids = [json.loads(line)["id"] for line in path.read_text().splitlines()[1:]]
        assert len(ids) == len(set(ids)) > 0, path.name


def test_a_pass_with_fewer_items_than_processes_does_not_hang(world, target_model, tmp_path):
    """One question: one generation prompt for two processes (the second gets none and still joins)."""
    _unlearn("eval", str(target_model), "--data", str(world), "--suite", "tofu", "eval.splits=forget[:1]",
             "eval.max_new_tokens=4", "--out", str(tmp_path / "one_question"), "eval.cache=false", processes=2)
    metrics = json.loads((tmp_path / "one_question" / "metrics.json").read_text())
    assert metrics["datasets"]["forget"]["samples"] == 1


@pytest.mark.slow
def test_evaluation_during_training_uses_every_process(world, target_model, tmp_path):
    out = tmp_path / "run"
    _unlearn("unlearn", f"out={out}", f"model.path={target_model}", f"data.path={world}", "method.name=GA_GDR",
             "train.max_steps=4", "train.batch_size=4", "eval.every_steps=2", "eval.max_new_tokens=4",
             "eval.suites=[tofu]", processes=2)
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [point["step"] for point in curve] == [2, 4]  # written once, by the main process
    assert all(v is None or isinstance(v, float) for point in curve for k, v in point.items() if k != "step")
    assert (out / "metrics.json").is_file() and json.loads((out / "cost.json").read_text())["processes"] == 2
