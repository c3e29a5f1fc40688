"""Experiment tracking through Accelerate (train.report_to): TensorBoard, offline, gets what log.jsonl
gets at the same steps, the evaluation during training, and the run's time; off by default."""

from __future__ import annotations

import json

import pytest

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import ConfigError

pytest.importorskip("tensorboard")


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list(folder.rglob("events.out.tfevents.*"))
    assert files, f"no TensorBoard events under {folder}"
    out = {}
    for path in files:
        acc = EventAccumulator(str(path))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return out


def test_tensorboard_gets_the_log_the_evaluation_and_the_time(world, target_model, tmp_path):
    out = tmp_path / "run"
    api.unlearn(load_config(overrides=[
        f"out={out}", f"model.path={target_model}", f"data.path={world}", "method.name=NPO_GDR",
        "train.max_steps=4", "train.batch_size=4", "train.report_to=tensorboard", "eval.enabled=false",
        "eval.every_steps=2", "eval.during_metrics=[prob]", "eval.max_new_tokens=4"]))
    scalars = _scalars(out / "trackers")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    for key in ("loss", "forget_npo", "retain_gdr", "grad_norm", "lr"):
        assert scalars[key] == pytest.approx({e["step"]: e[key] for e in log}, rel=1e-5), key
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == [2, 4]
    assert scalars["eval/forget_prob"] == pytest.approx({c["step"]: c["forget_prob"] for c in curve}, rel=1e-5)
    assert set(scalars["train_seconds"]) == {4} and scalars["train_seconds"][4] > 0


def test_off_by_default_and_unknown_trackers_refused(world, target_model, tmp_path):
    out = tmp_path / "plain"
    api.unlearn(load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                       "method.name=GA", "train.max_steps=1", "eval.enabled=false"]))
    assert not (out / "trackers").exists()
    with pytest.raises(ConfigError, match="train.report_to"):
        load_config(overrides=["train.report_to=tensorbord"])
