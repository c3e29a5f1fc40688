"""The TOFU adapter on the real benchmark files (../shared/data/tofu), with a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn.core.errors import DataError
from unlearn.data.benchmarks import load_benchmark

from conftest import REPO, run_cli

TOFU = REPO.parent / "shared" / "data" / "tofu"
pytestmark = pytest.mark.skipif(not (TOFU / "forget01.json").is_file(), reason="no local TOFU copy beside the repo")


def test_tofu_splits_and_eval_sets():
    bench = load_benchmark("tofu", str(TOFU), "forget05")
    assert bench.retain_split == "retain95"
    assert [s.name for s in bench.eval_data()] == ["forget", "retain", "real_authors_perturbed",
                                                   "world_facts_perturbed"]
    forget = bench.load("forget05", ("question", "answer", "paraphrased_answer", "perturbed_answer"))
    assert len(forget) == 200 and all(len(r["perturbed_answer"]) == 5 for r in forget)
    # real_authors_perturbed.json holds JSON lines despite its name.
    authors = bench.load("real_authors_perturbed", ("question", "answer", "perturbed_answer"))
    assert len(authors) == 100
    assert bench.train_splits() == ["forget05", "retain95"]
    with pytest.raises(DataError, match="forget03"):
        load_benchmark("tofu", str(TOFU), "forget03")


def test_eval_tiny_model_on_tofu(init_model, tmp_path):
    proc = run_cli("eval", f"out={tmp_path}", f"model.path={init_model}", "data.benchmark=tofu",
                   f"data.path={TOFU}", "data.forget_split=forget01", "eval.splits=forget,real_authors_perturbed",
                   "eval.max_new_tokens=4", "eval.batch_size=64")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((Path(tmp_path) / "metrics.json").read_text())["metrics"]
    assert 0 <= metrics["forget_prob"] <= 1 and 0 <= metrics["real_authors_perturbed_prob"] <= 1
    rows = (Path(tmp_path) / "samples.jsonl").read_text().splitlines()
    assert len(rows) == 40 + 100
