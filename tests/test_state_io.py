"""Checkpoint state without pickle: tensors, optimizer, scheduler and RNG states round-trip exactly."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from unlearn.core.errors import UnlearnError
from unlearn.engine import state_io


def test_tensors_roundtrip_shared_and_noncontiguous(tmp_path):
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensors = {"a": a, "same": a, "t": a.t(), "row": a[1], "scalar": torch.tensor(2.5), "empty": torch.zeros(0)}
    state_io.save_tensors(tmp_path / "x.safetensors", tensors, metadata={"step": 3})
    back = state_io.load_tensors(tmp_path / "x.safetensors")
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert torch.equal(back[k], v), k
    from safetensors import safe_open

    with safe_open(str(tmp_path / "x.safetensors"), "pt") as f:
        assert f.metadata() == {"step": "3"}


def test_missing_or_damaged_files(tmp_path):
    with pytest.raises(UnlearnError, match="is missing; the checkpoint is incomplete"):
        state_io.load_tensors(tmp_path / "nope.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(UnlearnError, match="cannot be read"):
        state_io.load_tensors(tmp_path / "bad.safetensors")
    with pytest.raises(UnlearnError, match=r"^cannot write .*\(No such file or directory\)"):
        state_io.save_tensors(tmp_path / "no" / "dir" / "x.safetensors", {"a": torch.ones(1)})


def _model_and_data(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    return model, x, y


def _step(model, optimizer, x, y, scheduler=None):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def _resume_matches(tmp_path, make_optimizer, make_scheduler=None, steps: int = 3):
    """Train `steps`, save, reload into fresh objects: the next steps must match bit for bit."""
    model, x, y = _model_and_data()
    opt = make_optimizer(model)
    sched = make_scheduler(opt) if make_scheduler else None
    for _ in range(steps):
        _step(model, opt, x, y, sched)
    state_io.optimizer_state_to_files(opt, tmp_path, "optimizer")
    sched_state = json.loads(json.dumps(state_io.scheduler_state_to_json(sched))) if sched else None

    fresh, _, _ = _model_and_data(seed=1)
    fresh.load_state_dict(model.state_dict())
    opt2 = make_optimizer(fresh)
    sched2 = make_scheduler(opt2) if make_scheduler else None
    state_io.load_optimizer_state(opt2, tmp_path, "optimizer")
    if sched2 is not None:
        state_io.load_scheduler_state(sched2, sched_state)
    for _ in range(3):
        if sched is not None:
            assert sched.get_last_lr() == sched2.get_last_lr()
        _step(model, opt, x, y, sched)
        _step(fresh, opt2, x, y, sched2)
        for p, q in zip(model.parameters(), fresh.parameters()):
            assert torch.equal(p, q)
    return opt, opt2


def test_adamw_resumes_bitwise(tmp_path):
    opt, opt2 = _resume_matches(tmp_path, lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optimizer.json", "optimizer.safetensors"]
    assert opt2.param_groups[0]["betas"] == opt.param_groups[0]["betas"] and isinstance(
        opt2.param_groups[0]["betas"], tuple)
    assert set(state_io.load_tensors(tmp_path / "optimizer.safetensors")) == {
        f"state.{i}.{k}" for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq")}


def test_non_tensor_state_values(tmp_path):
    """transformers' Adafactor keeps an int 'step' and tensor factors: both kinds round-trip."""
    from transformers.optimization import Adafactor

    make = lambda m: Adafactor(m.parameters(), lr=1e-2, relative_step=False, scale_parameter=False)  # noqa: E731
    _resume_matches(tmp_path, make)
    saved = json.loads((tmp_path / "optimizer.json").read_text())
    assert saved["state"]["0"]["step"] == 3


def test_empty_optimizer_state(tmp_path):
    model, _, _ = _model_and_data()
    opt = torch.optim.AdamW(model.parameters())
    state_io.optimizer_state_to_files(opt, tmp_path, "opt")
    opt2 = torch.optim.AdamW(model.parameters())
    state_io.load_optimizer_state(opt2, tmp_path, "opt")
    assert opt2.state_dict() == opt.state_dict()


@pytest.mark.parametrize("name", ["linear", "cosine", "constant_with_warmup"])
def test_scheduler_resumes_with_identical_lrs(tmp_path, name):
    from transformers import get_scheduler

    make_opt = lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2)  # noqa: E731
    make_sched = lambda o: get_scheduler(name, o, num_warmup_steps=2, num_training_steps=10)  # noqa: E731
    _resume_matches(tmp_path, make_opt, make_sched, steps=4)


def test_scheduler_json_is_plain(tmp_path):
    from transformers import get_scheduler

    model, _, _ = _model_and_data()
    sched = get_scheduler("linear", torch.optim.AdamW(model.parameters()), num_warmup_steps=1, num_training_steps=5)
    state = state_io.scheduler_state_to_json(sched)
    assert json.loads(json.dumps(state)) == state
    assert "lr_lambdas" in state and state["last_epoch"] == 0
    before = dict(state)
    state_io.load_scheduler_state(sched, state)
    assert state == before  # not mutated


def test_rng_state_restores_next_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in python's RNG
    np.random.standard_normal()  # ... and in numpy's
    state = state_io.rng_state()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state["torch_cpu"].dtype == torch.uint8
    state_io.save_tensors(tmp_path / "rng.safetensors", state)

    def draws():
        return (torch.rand(5).tolist(), [random.random() for _ in range(3)], random.gauss(0, 1),
                np.random.rand(3).tolist(), np.random.standard_normal())

    expected = draws()
    draws()  # move every generator on
    state_io.set_rng_state(state_io.load_tensors(tmp_path / "rng.safetensors"))
    assert draws() == expected


class Evil:
    """Unpickling this creates the marker file: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_no_pickle_is_ever_loaded(tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Evil(marker))
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Evil(probe))).close()
    assert probe.exists()  # the planted payload is really dangerous when unpickled
    for name in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
        (folder / name).write_bytes(payload)

    from transformers import get_scheduler

    model, x, y = _model_and_data()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = get_scheduler("linear", opt, num_warmup_steps=1, num_training_steps=10)
    _step(model, opt, x, y, sched)
    state_io.optimizer_state_to_files(opt, folder, "optimizer")
    (folder / "scheduler.json").write_text(json.dumps(state_io.scheduler_state_to_json(sched)))
    state_io.save_tensors(folder / "random_states_0.safetensors", state_io.rng_state())

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for target, attr in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(target, attr, refuse)
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-2)
    state_io.load_optimizer_state(opt2, folder, "optimizer")
    state_io.load_scheduler_state(get_scheduler("linear", opt2, num_warmup_steps=1, num_training_steps=10),
                                  json.loads((folder / "scheduler.json").read_text()))
    state_io.set_rng_state(state_io.load_tensors(folder / "random_states_0.safetensors"))
    assert not marker.exists()
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
