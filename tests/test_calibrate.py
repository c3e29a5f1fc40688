"""Calibration by model mixing: the mixture, the bisection, and both on the tiny model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from unlearn.core.errors import ConfigError
from unlearn.evidence.calibrate import bisect, mix_state


def test_mix_state_by_hand():
    original = {"w": torch.tensor([0.0, 4.0]), "count": torch.tensor([1])}
    unlearned = {"w": torch.tensor([2.0, 0.0]), "count": torch.tensor([7])}
    mixed = mix_state(original, unlearned, 0.25)
    assert mixed["w"].tolist() == [0.5, 3.0] and mixed["count"].tolist() == [7]  # integers: the unlearned model's
    assert mix_state(original, unlearned, 0.0)["w"].tolist() == [0.0, 4.0]
    half = mix_state({"w": torch.tensor([1.0], dtype=torch.bfloat16)}, {"w": torch.tensor([3.0], dtype=torch.bfloat16)}, 0.5)
    assert half["w"].dtype == torch.bfloat16 and half["w"].item() == 2.0
    with pytest.raises(ConfigError, match="different parameters"):
        mix_state({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, 0.5)
    with pytest.raises(ConfigError, match=r"shape \(2,\) in the original model and \(3,\)"):
        mix_state({"a": torch.zeros(2)}, {"a": torch.zeros(3)}, 0.5)


def test_bisection_finds_the_largest_alpha_at_the_target():
    alpha, value, steps = bisect(lambda a: 1 - a, target=0.9, tolerance=0.01)
    assert 0.09 <= alpha <= 0.1 and value == pytest.approx(1 - alpha) and value >= 0.9
    assert len(steps) == 1 + math.ceil(math.log2(1 / 0.01))  # alpha 1, then halvings down to the tolerance
    assert bisect(lambda a: 1.0, 0.9, 0.01)[:2] == (1.0, 1.0)  # the unlearned model already meets it
    calls = []
    alpha, value, _ = bisect(lambda a: calls.append(a) or (1.0 if a == 0 else 0.5), 0.9, 0.1)
    assert (alpha, value) == (0.0, 1.0) and calls[-1] == 0.0  # nothing above 0 meets it: the original model


def _unlearn(name, world, target_model, tmp_path_factory):
    from unlearn import api
    from unlearn.config import load_config

    out = tmp_path_factory.mktemp(name)
    api.run_unlearning(load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                              f"method.name={name}", "train.lr=1e-2", "train.max_steps=6",
                                              "train.batch_size=4", "eval.enabled=false"]))
    return out


@pytest.fixture(scope="module")
def ga_run(world, target_model, tmp_path_factory):
    return _unlearn("GA", world, target_model, tmp_path_factory)


def test_calibration_on_the_tiny_model(ga_run, world, target_model):
    from unlearn.config import load_config
    from unlearn.eval.evaluator import evaluate_model
    from unlearn.evidence.calibrate import Mixer, calibrate
    from unlearn.models import load_model, load_tokenizer

    cfg = load_config(str(ga_run / "config.yaml"), ["eval.cache=false"])
    result = calibrate(cfg, str(target_model), str(ga_run / "model"), "retain_prob", ratio=0.95, tolerance=0.05)
    # alpha 0 is the original model: its metric, computed independently on the model loaded from disk
    original = load_model(cfg.model).eval()
    request = replace_eval(cfg, metrics=["prob"], splits=["retain"])
    direct = evaluate_model(original, load_tokenizer(cfg.model), request)[0]["metrics"]["retain_prob"]
    assert result.original == pytest.approx(direct, rel=1e-6) and result.steps[0].alpha == 0.0
    assert result.target == pytest.approx(0.95 * direct)
    unlearned = next(s for s in result.steps if s.alpha == 1.0).value
    assert unlearned < result.target  # GA lowered the retain probability below the target ...
    assert result.value >= result.target and 0 <= result.alpha < 1  # ... and the mixture meets it
    failing = [s.alpha for s in result.steps if s.value < result.target]
    assert min(failing) - result.alpha <= 0.05 + 1e-9  # within the bisection tolerance
    assert set(result.forget) >= {"forget_prob", "forget_rougeL_recall", "forget_truth_ratio"}
    mixer = Mixer(cfg, str(target_model), str(ga_run / "model"))
    again = mixer.evaluate(result.alpha, ["prob"], ["retain"])["metrics"]["retain_prob"]
    assert again == pytest.approx(result.value, rel=1e-6)  # the reported value is the mixed model's


def replace_eval(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, eval=replace(cfg.eval, suites=[], **changes))


@pytest.mark.slow  # about 30 s on 2 cores: two runs calibrated and ranked through the CLI; the tiny-model calibration test stays quick
def test_compare_ranks_runs_and_reuses_their_calibration(ga_run, world, target_model, tmp_path_factory):
    from tests.conftest import run_cli

    npo_run = _unlearn("NPO_GDR", world, target_model, tmp_path_factory)
    proc = run_cli("compare", str(ga_run), str(npo_run), "--metric", "retain_prob", "--tol", "0.1",
                   "eval.cache=false", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout
    assert "Calibrated to 95% of the original's retain_prob" in table and "| 1 |" in table and "| 2 |" in table
    for run in (ga_run, npo_run):  # each bisection step's progress names its run and alpha
        assert f"calibrate {run.name}, alpha 1.000: sample" in proc.stderr
    # the original (alpha 0) is scored once, for the first run; the second reuses its score
    assert f"calibrate {ga_run.name}, alpha 0.000: sample" in proc.stderr
    assert f"calibrate {npo_run.name}, alpha 0.000: sample" not in proc.stderr
    first = json.loads((ga_run / "calibration.json").read_text())
    stamp = (ga_run / "calibration.json").stat().st_mtime_ns
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| rank |")).split("|")
    rows = [line.split("|") for line in lines if line.startswith(("| 1 |", "| 2 |"))]
    column = header.index(" forget_rougeL_recall ")
    rouge = [float(r[column]) for r in rows]
    assert rouge == sorted(rouge)  # lower forget ROUGE-L first
    assert {r[2].strip() for r in rows} == {str(ga_run), str(npo_run)}
    proc = run_cli("compare", str(ga_run), "--metric", "retain_prob", "--tol", "0.1", "eval.cache=false")
    assert proc.returncode == 0 and (ga_run / "calibration.json").stat().st_mtime_ns == stamp  # reused
    assert f"{first['alpha']:.3f}" in proc.stdout and "forget_quality" not in first["forget"]
    # with a reference evaluation (here the target model's, standing in for a retain model): forget quality
    from unlearn import api
    from unlearn.config import load_config

    ref = tmp_path_factory.mktemp("reference")
    api.evaluate(load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.splits=[forget]",
                                        "eval.cache=false"]), out=str(ref))
    # the same request with a reference is another calibration: the cached one (without) is not reused
    proc = run_cli("compare", str(ga_run), "--metric", "retain_prob", "--tol", "0.1", "--rank-by", "forget_quality",
                   f"eval.retain_reference={ref}", "eval.cache=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ranked by forget_quality (higher is better)" in proc.stdout
    assert 0 <= json.loads((ga_run / "calibration.json").read_text())["forget"]["forget_quality"] <= 1
    proc = run_cli("calibrate", str(ga_run), "--metric", "forget_bogus")
    assert proc.returncode == 2 and "calibration metric 'forget_bogus'" in proc.stderr
    proc = run_cli("calibrate", str(ga_run), "--metric", "forget_rougeL_recall")  # a forget set: not a retain metric
    assert proc.returncode == 2 and "calibration metric 'forget_rougeL_recall'" in proc.stderr


def test_an_original_that_scores_zero_is_refused(world, monkeypatch):
    """An original whose retain metric is 0 leaves nothing to keep: any alpha would "meet" 0.95 x 0, so the
    calibration refuses instead of reporting success."""
    from unlearn.config import load_config
    from unlearn.evidence import calibrate as cal

    class ZeroMixer:
        def __init__(self, cfg, original, unlearned):
            self.bench = None

        def evaluate(self, alpha, metrics, splits, reference=None):
            return {"metrics": {m: 0.0 for m in ("retain_rougeL_recall", "held_out_utility", "model_utility")}}

    monkeypatch.setattr(cal, "Mixer", ZeroMixer)
    cfg = load_config(overrides=[f"data.path={world}"])
    with pytest.raises(ConfigError, match="the original model scores 0 on .*nothing to keep"):
        cal.calibrate(cfg, "orig", "run/model", metric="retain_rougeL_recall")


def test_runs_of_one_original_load_it_once(ga_run, target_model, monkeypatch):
    """`compare` calibrates each run against the same original: its weights are read from disk once."""
    import unlearn.models
    from unlearn.config import load_config
    from unlearn.evidence import calibrate as calibration

    real = unlearn.models.load_model
    loads = []
    monkeypatch.setattr(unlearn.models, "load_model", lambda c: loads.append(str(c.path)) or real(c))
    calibration._ORIGINALS.clear()
    cfg = load_config(str(ga_run / "config.yaml"))
    first = calibration.Mixer(cfg, str(target_model), str(ga_run / "model"))
    second = calibration.Mixer(cfg, str(target_model), str(ga_run / "model"))
    assert loads.count(str(target_model)) == 1 and second.original is first.original
    first.set_alpha(0.5)  # mixing writes the working model, never the shared original
    assert all(torch.equal(v, second.original[k]) for k, v in real(cfg.model).state_dict().items())


def test_the_original_is_scored_once_for_every_run_of_it(ga_run, target_model, monkeypatch):
    """At alpha 0 the mixed weights are the original's, so a second calibration against the same original
    in one process reuses the first one's alpha-0 evaluation; its result is the one a fresh process gets."""
    import unlearn.eval.evaluator as evaluator
    from unlearn.config import load_config
    from unlearn.evidence import calibrate as calibration

    cfg = load_config(str(ga_run / "config.yaml"), ["eval.cache=false"])
    calibration._ORIGINALS.clear()
    calibration._ORIGINAL_SCORES.clear()
    fresh = calibration.calibrate(cfg, str(target_model), str(ga_run / "model"), "retain_prob", 0.95, 0.1)
    real, labels = evaluator.evaluate_model, []
    monkeypatch.setattr(evaluator, "evaluate_model", lambda *a, **k: labels.append(k["label"]) or real(*a, **k))
    again = calibration.calibrate(cfg, str(target_model), str(ga_run / "model"), "retain_prob", 0.95, 0.1)
    assert again.to_dict() == fresh.to_dict()
    assert not any(label.endswith("alpha 0.000") for label in labels)  # scored once, by the first
    # every other step ran: alpha 1 and the bisection's, and the forget set's at the calibrated alpha
    # (at alpha 0 too, which is where this GA run lands: that evaluation was also the original's)
    mixed = [s.alpha for s in fresh.steps if s.alpha != 0.0]
    assert labels == [f"calibrate {ga_run.name}, alpha {a:.3f}" for a in mixed] + (
        [f"calibrate {ga_run.name}, alpha {fresh.alpha:.3f}"] if fresh.alpha != 0.0 else [])
    # another request (another metric) is another score
    calibration.calibrate(cfg, str(target_model), str(ga_run / "model"), "retain_rougeL_recall", 0.95, 0.1)
    assert any(label.endswith("alpha 0.000") for label in labels)
