"""Utility that counts collateral damage: the held-out utility, each set's share kept against the
original model (a warning when a held-out set lost as much as the forget set), and calibration holding
the held-out utility by default. The scenario a user met: a method that refuses every question keeps the
retain set it trains on, so its model utility rises while it forgets every other fact too."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from unlearn.eval.collateral import collateral, collateral_lines


def test_shares_kept_and_damage_by_hand():
    roles = {"forget": "forget", "retain": "retain", "holdout": "holdout", "places": "general", "texts": "general"}
    before = {"forget_rougeL_recall": 1.0, "retain_rougeL_recall": 0.8, "holdout_rougeL_recall": 0.8,
              "places_rougeL_recall": 0.9, "texts_prob": 0.5}
    after = {"forget_rougeL_recall": 0.1, "retain_rougeL_recall": 0.8, "holdout_rougeL_recall": 0.0,
             "places_rougeL_recall": 0.855, "texts_prob": 0.49}
    record = collateral(after, before, roles)
    kept = {name: s["kept"] for name, s in record["sets"].items()}
    # forget 0.1/1.0; holdout 0/0.8 = 0, as low as the forget set's 0.1: damage; places 0.855/0.9 = 0.95
    # and texts (probability, no ROUGE-L) 0.49/0.5 = 0.98 lost little; the retain set is never "damage"
    assert kept == pytest.approx({"forget": 0.1, "retain": 1.0, "holdout": 0.0, "places": 0.95, "texts": 0.98})
    assert record["sets"]["texts"]["metric"] == "prob" and record["damaged"] == ["holdout"]
    lines = collateral_lines(record)
    assert lines[0].startswith("  forget (forget): rougeL_recall 1.000 -> 0.100, kept 10%")
    assert lines[1] == "  holdout (holdout): rougeL_recall 0.800 -> 0.000, kept 0%  <- collateral damage: lost as much " \
                       "as the forget set"
    # a held-out set that lost less than the forget set, or less than a tenth of its score, is not damage
    assert collateral({**after, "holdout_rougeL_recall": 0.4}, before, roles)["damaged"] == []
    # the forget set kept 0.95 and the holdout 0.76/0.8 = 0.95 too: as much, but only a twentieth was lost
    small = {**after, "forget_rougeL_recall": 0.95, "holdout_rougeL_recall": 0.76, "places_rougeL_recall": 0.86}
    assert collateral(small, before, roles)["damaged"] == []


def test_held_out_utility_by_hand():
    from unlearn.eval.metrics import METRICS  # noqa: F401  (loads the definitions)
    from unlearn.eval.results import DerivedContext, ModelResults, compute_derived

    roles = {"retain": "retain", "holdout": "holdout", "places": "general"}
    values = {"retain_prob": 0.9, "retain_rougeL_recall": 0.9, "holdout_prob": 0.5, "holdout_rougeL_recall": 0.25,
              "places_prob": 0.5, "places_rougeL_recall": 0.25}
    out = compute_derived(["model_utility", "held_out_utility"],
                          DerivedContext(ModelResults(values=values, roles=roles)))
    # held-out: HM(0.5, 0.25, 0.5, 0.25) = 4 / (2 + 4 + 2 + 4) = 1/3; model utility reads retain and general
    assert out["held_out_utility"][0] == pytest.approx(1 / 3)
    assert out["model_utility"][0] == pytest.approx(4 / (2 / 0.9 + 2 + 4))


def test_auto_calibrates_on_held_out_data_when_there_is_some(world, tmp_path):
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.evidence.calibrate import calibration_metric

    assert calibration_metric("auto", load_benchmark("synthetic", str(world))) == "held_out_utility"
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("forget", "retain"):
        (mine / f"{name}.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    assert calibration_metric("auto", load_benchmark("custom", str(mine))) == "model_utility"
    assert calibration_metric("retain_prob", load_benchmark("custom", str(mine))) == "retain_prob"


def _qa_files(folder, files):
    folder.mkdir()
    for name, rows in files.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]})
                                                      + "\n" for r in rows))
    return folder


@pytest.mark.slow  # about 25 s: a model trained to know the facts, two runs and two calibrated comparisons
def test_a_method_that_refuses_everything_shows_its_damage_and_is_not_ranked_first(world, init_model, tmp_path):
    """A tiny model that knows a person's facts, other people's and some general facts; the forget
    request is the person. IDK_GDR learns to refuse (and keeps the retain set it trains on), NPO_GDR
    pushes the person's answers down. IDK_GDR's printed summary marks the general facts' loss; compare
    at equal held-out utility (the default) does not rank it first, at equal model utility it would."""
    from unlearn import api
    from unlearn.config import load_config

    forget = json.loads((world / "forget10.json").read_text())[:6]
    retain = json.loads((world / "retain90.json").read_text())[:12]
    general = json.loads((world / "general_places.json").read_text())[:6]
    known = _qa_files(tmp_path / "known", {"forget": forget, "retain": retain + general})
    mine = _qa_files(tmp_path / "mine", {"forget": forget, "retain": retain, "holdout": general})
    common = ["data.benchmark=custom", "eval.max_new_tokens=12", "train.batch_size=8"]
    target = api.finetune(load_config(overrides=[f"out={tmp_path / 'target'}", f"model.path={init_model}",
                                                 f"data.path={known}", "train.lr=5e-3", "train.max_steps=300",
                                                 "eval.enabled=false", *common]))["model_dir"]
    runs = {}
    for method, lr, steps in (("IDK_GDR", "2e-2", "40"), ("NPO_GDR", "2e-3", "10")):
        runs[method] = tmp_path / method
        proc = run_cli("unlearn", f"out={runs[method]}", f"model.path={target}", f"data.path={mine}",
                       f"method.name={method}", f"train.lr={lr}", f"train.max_steps={steps}", *common)
        assert proc.returncode == 0, proc.stderr[-2000:]
        if method == "IDK_GDR":
            assert "against the original" in proc.stdout
            assert "holdout (holdout): rougeL_recall 0.750 -> 0.000, kept 0%  <- collateral damage" in proc.stdout
            assert "unlearn: warning: holdout, data no method trains on, lost as large a share" in proc.stderr
            metrics = json.loads((runs[method] / "metrics.json").read_text())
            # the retain-set utility hides the damage; the held-out utility shows it
            assert metrics["metrics"]["model_utility"] > 0.85 and metrics["metrics"]["held_out_utility"] == 0.0
    ranked = run_cli("compare", str(runs["IDK_GDR"]), str(runs["NPO_GDR"]), "--tol", "0.05", timeout=600)
    assert ranked.returncode == 0, ranked.stderr[-2000:]
    assert "original's held_out_utility" in ranked.stdout and "| 1 | " + str(runs["NPO_GDR"]) in ranked.stdout
    old = run_cli("compare", str(runs["IDK_GDR"]), str(runs["NPO_GDR"]), "--tol", "0.05", "--metric", "model_utility",
                  timeout=600)
    assert old.returncode == 0 and "| 1 | " + str(runs["IDK_GDR"]) in old.stdout
