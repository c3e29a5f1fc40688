"""Evaluation during training: a curve every N steps, and the first checkpoint meeting a rule kept."""

from __future__ import annotations

import json

import pytest

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import ConfigError
from unlearn.engine.during import evaluation_due, parse_rule


def test_curve_and_keep_best(world, target_model, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(overrides=[
        f"out={out}", f"model.path={target_model}", f"data.path={world}", "method.name=GA", "train.lr=1e-3",
        "train.max_steps=4", "train.batch_size=4", "eval.enabled=false", "eval.every_steps=2",
        "eval.max_new_tokens=6", "eval.during_metrics=prob,rougeL_recall,exact_memorisation",
        "eval.keep_best=forget_prob<=1.0"])
    api.run_unlearning(cfg)
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == [2, 4]
    assert {"forget_prob", "retain_prob", "forget_exact_memorisation"} <= set(curve[0])
    assert curve[0]["forget_prob"] != curve[1]["forget_prob"]  # the model changed between the points
    best = json.loads((out / "best.json").read_text())
    assert best["step"] == 2 and best["rule"] == "forget_prob<=1.0"  # the first point meeting the rule
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out / "best")  # a loadable model


def test_keep_best_rules(tmp_path):
    rule = parse_rule("forget_knowmem<=retain", {"forget_knowmem": 0.25})
    assert rule.threshold == 0.25 and rule.met({"forget_knowmem": 0.2}) and not rule.met({"forget_knowmem": 0.3})
    assert not rule.met({})  # a missing value never meets a rule
    assert parse_rule("retain_prob > 0.5", None).met({"retain_prob": 0.6})
    with pytest.raises(ConfigError, match="set eval.retain_reference"):
        parse_rule("forget_knowmem<=retain", None)
    with pytest.raises(ConfigError, match="is not a rule; write METRIC<=VALUE"):
        parse_rule("forget_knowmem is low", None)
    with pytest.raises(ConfigError, match="no value of 'forget_prob'"):
        parse_rule("forget_prob<=retain", {"forget_knowmem": 0.2})


def test_evaluation_is_due_every_n_steps_and_after_the_last():
    # every 3 steps of 7: after steps 3 and 6, and after the last (7); 0 means never
    assert [s for s in range(1, 8) if evaluation_due(3, s, 7)] == [3, 6, 7]
    assert [s for s in range(1, 8) if evaluation_due(0, s, 7)] == []
    assert [s for s in range(1, 5) if evaluation_due(2, s, 4)] == [2, 4]
