"""Evaluation and run folders: ROUGE-L in metrics.json equals rouge-score on the same strings, every
run folder describes itself, and forget quality compares against the retain model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rouge_score import rouge_scorer
from scipy.stats import ks_2samp

from conftest import run_cli


@pytest.fixture(scope="module")
def evaluated(world, target_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    proc = run_cli("eval", f"out={out}", f"model.path={target_model}", f"data.path={world}",
                   "eval.max_new_tokens=24")
    assert proc.returncode == 0, proc.stderr
    return out


def _samples(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def test_metrics_rouge_equals_rouge_score(evaluated):
    metrics = json.loads((evaluated / "metrics.json").read_text())["metrics"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    samples = _samples(evaluated)
    for set_name in ("forget", "retain", "general_places", "general_things"):
        rows = [r for r in samples if r["set"] == set_name]
        assert rows
        expected = [scorer.score(r["answer"], r["generation"])["rougeL"].recall for r in rows]
        assert [r["rougeL_recall"] for r in rows] == pytest.approx(expected)
        assert metrics[f"{set_name}_rougeL_recall"] == pytest.approx(sum(expected) / len(expected))


def test_metrics_are_consistent_with_samples(evaluated):
    payload = json.loads((evaluated / "metrics.json").read_text())
    metrics, higher = payload["metrics"], payload["higher_is_better"]
    samples = _samples(evaluated)
    forget = [r for r in samples if r["set"] == "forget"]
    assert metrics["forget_truth_ratio"] == pytest.approx(
        sum(min(r["truth_ratio_raw"], 1 / r["truth_ratio_raw"]) for r in forget) / len(forget))
    retain = [r for r in samples if r["set"] == "retain"]
    assert metrics["retain_truth_ratio"] == pytest.approx(
        sum(max(0.0, 1 - r["truth_ratio_raw"]) for r in retain) / len(retain))
    nine = [metrics[f"{s}_{m}"] for s in ("retain", "general_places", "general_things")
            for m in ("prob", "rougeL_recall", "truth_ratio")]
    expected_mu = 0.0 if min(nine) == 0 else len(nine) / sum(1 / v for v in nine)
    assert metrics["model_utility"] == pytest.approx(expected_mu)
    assert metrics["forget_quality"] is None  # no retain-model reference given
    assert higher["forget_rougeL_recall"] is False and higher["model_utility"] is True
    assert all(0 <= r["prob"] <= 1 for r in samples)


def test_forget_quality_against_reference(world, target_model, init_model, evaluated, tmp_path):
    proc = run_cli("eval", f"out={tmp_path}", f"model.path={init_model}", f"data.path={world}",
                   "eval.max_new_tokens=8", f"eval.retain_reference={evaluated}")
    assert proc.returncode == 0, proc.stderr
    fq = json.loads((tmp_path / "metrics.json").read_text())["metrics"]["forget_quality"]
    ours = [r["truth_ratio_raw"] for r in _samples(tmp_path) if r["set"] == "forget"]
    ref = [r["truth_ratio_raw"] for r in _samples(evaluated) if r["set"] == "forget"]
    assert fq == pytest.approx(ks_2samp(ours, ref).pvalue)
    assert 0.0 <= fq <= 1.0 and not math.isnan(fq)


def test_run_folder_is_self_describing(world, init_model, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("finetune", f"out={out}", f"model.path={init_model}", f"data.path={world}",
                   "train.max_steps=3", "train.seed=7", "eval.max_new_tokens=4")
    assert proc.returncode == 0, proc.stderr
    for name in ("config.yaml", "run.json", "log.jsonl", "metrics.json", "samples.jsonl", "train_state.json",
                 "model/config.json", "model/model.safetensors", "model/tokenizer.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 7 and info["config"]["train"]["seed"] == 7
    assert set(info["versions"]) >= {"python", "torch", "transformers", "accelerate", "datasets"}
    import hashlib

    digest = hashlib.sha256((world / "forget10.json").read_bytes()).hexdigest()
    assert info["data_hashes"]["forget10.json"] == digest
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["max_steps"] == 3
    assert not list(out.glob("model/*.bin")), "weights must be safetensors"
    # A finished run is not trained again.
    again = run_cli("finetune", f"out={out}", f"model.path={init_model}", f"data.path={world}",
                    "train.max_steps=3", "train.seed=7", "eval.max_new_tokens=4")
    assert again.returncode == 0 and len((out / "log.jsonl").read_text().splitlines()) == 3
