"""Memory levers: gradient checkpointing, mixed precision with float32 master weights, the attention
implementation. Each trains the tiny model as the plain run does (the same loss, or close in bf16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unlearn import api
from unlearn.config import load_config


def _run(world: Path, model: Path, out: Path, *extra: str) -> tuple[list[dict], dict[str, torch.Tensor], dict]:
    cfg = load_config(overrides=[f"out={out}", f"model.path={model}", f"data.path={world}", "method.name=GA_GDR",
                                 "train.max_steps=3", "train.batch_size=4", "train.lr=1e-3", "eval.enabled=false",
                                 *extra])
    api.run_unlearning(cfg)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return log, load_file(str(out / "model" / "model.safetensors")), json.loads((out / "cost.json").read_text())


@pytest.fixture(scope="module")
def plain(world, target_model, tmp_path_factory):
    return _run(world, target_model, tmp_path_factory.mktemp("plain"))


def test_gradient_checkpointing_gives_the_same_losses_and_weights(plain, world, target_model, tmp_path):
    log, weights, cost = _run(world, target_model, tmp_path, "train.gradient_checkpointing=true")
    assert cost["gradient_checkpointing"] is True
    for a, b in zip(log, plain[0]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5)
    assert all(torch.allclose(weights[k], plain[1][k], atol=1e-6) for k in weights)


def test_bf16_mixed_precision_keeps_float32_weights(plain, world, target_model, tmp_path):
    log, weights, cost = _run(world, target_model, tmp_path, "train.mixed_precision=bf16")
    assert cost["mixed_precision"] == "bf16" and cost["dtype"] == "float32"
    assert {w.dtype for w in weights.values()} == {torch.float32}  # the master weights, saved as they trained
    assert log[0]["loss"] == pytest.approx(plain[0][0]["loss"], rel=0.05)  # computed in bf16: close, not equal
    assert log[0]["loss"] != plain[0][0]["loss"]  # ... and bf16 really was used
    assert any(not torch.equal(weights[k], plain[1][k]) for k in weights)


def test_eager_attention_trains_like_sdpa(plain, world, target_model, tmp_path):
    log, _, cost = _run(world, target_model, tmp_path, "model.attn_implementation=eager")
    assert cost["attention"] == "eager"
    assert [e["loss"] for e in log] == pytest.approx([e["loss"] for e in plain[0]], abs=1e-5)
