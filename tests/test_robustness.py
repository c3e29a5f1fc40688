"""Robustness probes: the share of knowledge returned, the probe inputs, and every probe on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.core.errors import ConfigError
from unlearn.evidence.robustness import halves, load_jailbreaks, returned_share, with_questions


def test_returned_share_by_hand():
    assert returned_share(original=1.0, unlearned=0.2, probed=0.6) == pytest.approx(0.5)
    assert returned_share(1.0, 0.2, 0.2) == 0.0 and returned_share(1.0, 0.2, 1.0) == pytest.approx(1.0)
    assert returned_share(0.3, 0.3, 0.5) is None  # nothing was removed, so nothing can return


def test_returned_share_in_the_metric_direction():
    """The forget truth ratio and KFR rise as knowledge goes: original 0.05, unlearned 0.95, probed 0.50 is
    half of the gap back, (0.50 - 0.95) / (0.05 - 0.95) = 0.5."""
    assert returned_share(0.05, 0.95, 0.50, sign=-1) == pytest.approx(0.5)
    assert returned_share(0.05, 0.95, 0.05, sign=-1) == pytest.approx(1.0)
    assert returned_share(0.95, 0.05, 0.50, sign=-1) is None  # the metric says knowledge rose: nothing removed
    from unlearn.eval.metrics import METRICS

    signs = {name: METRICS.get(name).knowledge_sign() for name in ("rougeL_recall", "prob", "truth_ratio", "kfr",
                                                                   "fluency", "mia_loss", "gen_ppl")}
    assert signs == {"rougeL_recall": 1, "prob": 1, "truth_ratio": -1, "kfr": -1, "fluency": None,
                     "mia_loss": None, "gen_ppl": None}


def test_a_metric_that_measures_no_knowledge_is_refused_before_models_load(tmp_path):
    from unlearn.config import RunConfig
    from unlearn.evidence.robustness import Prober

    missing = str(tmp_path / "no_model")  # never loaded: the metric is checked first
    with pytest.raises(ConfigError, match="'fluency' does not measure knowledge.*use one that does: .*rougeL_recall"):
        Prober(RunConfig(), missing, missing, metric="fluency")


def test_jailbreak_templates_and_probe_inputs(tmp_path):
    from unlearn.data.adapters import EvalData

    templates = load_jailbreaks()
    assert len(templates) >= 3 and all("{question}" in t for t in templates.values())
    bad = tmp_path / "jb.yaml"
    bad.write_text("roleplay: 'no placeholder here'\n")
    with pytest.raises(ConfigError, match="jailbreak 'roleplay' .* must contain \\{question\\}"):
        load_jailbreaks(str(bad))
    data = EvalData("forget", "forget", "qa", [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)], "f.json")
    wrapped = with_questions(data, ["x0", "x1", "x2", "x3", "x4"], "forget_x")
    assert [r["question"] for r in wrapped.records] == ["x0", "x1", "x2", "x3", "x4"]
    assert [r["answer"] for r in wrapped.records] == [r["answer"] for r in data.records] and wrapped.name == "forget_x"
    train, held_out = halves(data)
    assert [r["answer"] for r in train.records] == ["a0", "a1"] and len(held_out.records) == 3
    with pytest.raises(ConfigError, match="at least 2 forget questions"):
        halves(EvalData("forget", "forget", "qa", data.records[:1], "f.json"))


def test_an_int8_model_has_a_fingerprint():
    from unlearn.core.cache import model_fingerprint
    from unlearn.evidence.robustness import quantized_int8

    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    q = quantized_int8(model)
    assert model_fingerprint(q) == model_fingerprint(quantized_int8(model))
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert model_fingerprint(quantized_int8(model)) != model_fingerprint(q)


@pytest.fixture(scope="module")
def ga_run(world, target_model, tmp_path_factory):
    from unlearn import api
    from unlearn.config import load_config

    out = tmp_path_factory.mktemp("ga_probe")
    api.run_unlearning(load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                              "method.name=GA", "train.lr=1e-2", "train.max_steps=6",
                                              "train.batch_size=4", "eval.enabled=false"]))
    return out


def test_every_probe_on_the_tiny_model(ga_run, target_model):
    from tests.conftest import run_cli

    proc = run_cli("probe", str(ga_run), "--relearn-steps", "8", "--relearn-lr", "1e-2", "--metric", "prob",
                   "--control", str(target_model), "eval.max_new_tokens=8", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # every evaluation's progress says which probe it is part of
    for phase in ("baseline on forget", "int8 on forget", "jailbreak on forget_", "relearn on forget"):
        assert f"probe {phase}" in proc.stderr, phase
    result = json.loads((ga_run / "robustness.json").read_text())
    probes = {p["probe"]: p for p in result["probes"]}
    assert list(probes) == ["bfloat16", "float16", "int8", "jailbreak", "paraphrase", "relearn"]
    # each probe keeps what the probed model gave, per probed set: the question and its value
    int8 = probes["int8"]["answers"]["forget"]
    assert int8 and all({"question", "answer", "prob"} <= set(a) for a in int8)
    assert sum(a["prob"] for a in int8) / len(int8) == pytest.approx(probes["int8"]["probed"], rel=1e-6)
    assert set(probes["paraphrase"]["answers"]) == {"forget_rephrase", "forget_informal"}
    base = probes["bfloat16"]
    assert base["unlearned"] < base["original"]  # GA lowered the forget probability
    for p in probes.values():
        assert 0 <= p["probed"] <= 1
    for name in ("float16", "int8"):  # the same model at another precision: close to the float32 value
        assert probes[name]["probed"] == pytest.approx(base["unlearned"], abs=0.05)
    assert set(probes["jailbreak"]["detail"]) == set(load_jailbreaks())
    assert probes["jailbreak"]["probed"] == max(probes["jailbreak"]["detail"].values())
    assert set(probes["paraphrase"]["detail"]) == {"rephrase", "informal"}
    relearn = probes["relearn"]
    # eight steps on the first half of the forget answers raise their probability on the second half
    assert relearn["probed"] > relearn["unlearned"] and relearn["detail"]["measured_on"] >= 1
    # the control (here the target model itself, attacked alike) is measured before and after the attack
    assert relearn["detail"]["control_before"] == pytest.approx(relearn["original"], rel=1e-6)
    assert 0 <= relearn["detail"]["control_after"] <= 1
    assert "| relearn |" in proc.stdout
    proc = run_cli("probe", str(ga_run), "--probes", "bfloat16,gamma")
    assert proc.returncode == 2 and "unknown robustness probe 'gamma'" in proc.stderr


def test_the_robustness_suite_through_unlearn_eval(ga_run, world, target_model, tmp_path):
    from tests.conftest import run_cli

    out = tmp_path / "eval"
    proc = run_cli("eval", str(ga_run / "model"), "--data", str(world), "--suite", "robustness", "--splits", "forget",
                   "--out", str(out), f"eval.original_model={target_model}", "eval.max_new_tokens=8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for probe in ("bfloat16", "float16", "int8", "jailbreak", "paraphrase", "relearn"):
        assert 0 <= metrics["metrics"][f"robustness_{probe}_probed"] <= 1
        assert metrics["directions"][f"robustness_{probe}_returned"] == "lower is better"
    proc = run_cli("eval", str(ga_run / "model"), "--data", str(world), "--suite", "robustness", "--splits", "forget",
                   "--out", str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    notes = json.loads((tmp_path / "none" / "metrics.json").read_text())["notes"]
    assert "set eval.original_model" in notes["robustness"]
