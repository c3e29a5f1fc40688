"""The train step as the issue defines it: the same global batch gives the same update however it is
split (micro-batches, processes); references agree; transforms, term setup and aligned streams act as
defined; a non-finite gradient stops the run before the update; resumes are exact and never unpickle."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import ConfigError, TrainingDiverged

from conftest import REPO

LN2 = math.log(2.0)


def _overrides(world: Path, model: Path, out: Path, method: str, *extra: str) -> list[str]:
    return [f"out={out}", f"model.path={model}", f"data.path={world}", f"method.name={method}",
            "train.lr=1e-3", "train.scheduler=constant", "eval.enabled=false", *extra]


def _unlearn(world, model, out, method, *extra):
    return api.run_unlearning(load_config(overrides=_overrides(world, model, out, method, *extra)))


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         "-m", "unlearn", "unlearn", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _numbers(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("elapsed_s",)}


# ------------------------------------------------------------------------------ equivalence


@pytest.mark.parametrize("method", ["GA", "NPO_KLR"])
def test_same_global_batch_same_update_however_split(method, world, target_model, tmp_path):
    """Batch 8 = 4 x 2 accumulation steps = 2 processes x 4 (torchrun, gloo): same losses, same gradient
    norms (so the token mean is over the global batch, not per micro-batch or process), same weights."""
    steps = "train.max_steps=2"
    _unlearn(world, target_model, tmp_path / "b8", method, steps, "train.batch_size=8")
    _unlearn(world, target_model, tmp_path / "b4x2", method, steps, "train.batch_size=4", "train.grad_accum=2")
    proc = _torchrun(_overrides(world, target_model, tmp_path / "p2", method, steps, "train.batch_size=4"))
    assert proc.returncode == 0, proc.stderr[-3000:]

    reference_log = _log(tmp_path / "b8")
    assert [e["step"] for e in reference_log] == [1, 2]
    base = _weights(target_model)
    w8 = _weights(tmp_path / "b8" / "model")
    # The runs really trained: an update is a few lr = 1e-3 steps, far above the 1e-5 tolerance below.
    assert max((w8[k] - base[k]).abs().max().item() for k in base) > 5e-4
    for other in ("b4x2", "p2"):
        log = _log(tmp_path / other)
        for a, b in zip(reference_log, log):
            assert a.keys() == b.keys()
            for key, value in _numbers(a).items():
                assert b[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (other, key, a["step"])
        w = _weights(tmp_path / other / "model")
        worst = max(w8, key=lambda k: (w8[k] - w[k]).abs().max().item())
        assert (w8[worst] - w[worst]).abs().max().item() < 1e-5, (other, worst)


def test_two_stream_method_with_frozen_copy_runs_under_two_processes(world, target_model, tmp_path):
    proc = _torchrun(_overrides(world, target_model, tmp_path, "NPO_KLR", "train.max_steps=3",
                                "train.batch_size=2", "method.reference=copy"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = _log(tmp_path)
    assert [e["step"] for e in log] == [1, 2, 3]
    # Step 1: theta == reference, so NPO = (2/beta) ln 2 = 20 ln 2 and KL = 0, on every process.
    assert log[0]["forget_npo"] == pytest.approx(20 * LN2, rel=1e-5)
    assert log[0]["retain_klr"] == pytest.approx(0.0, abs=1e-6)
    assert log[-1]["forget_npo"] < log[0]["forget_npo"]


@pytest.mark.parametrize("strategy", ["copy", "cached"])
def test_copy_and_cached_reference_give_npo_20_ln2_at_step_0(strategy, world, target_model, tmp_path):
    _unlearn(world, target_model, tmp_path, "NPO", "train.max_steps=2", "train.batch_size=4",
             f"method.reference={strategy}")
    log = _log(tmp_path)
    # log-ratio 0 at step 0: -(2/0.1) log sigmoid(0) = 20 ln 2
    assert log[0]["forget_npo"] == pytest.approx(20 * LN2, rel=1e-6)
    assert log[1]["forget_npo"] != pytest.approx(20 * LN2, rel=1e-4)  # the model moved away


def test_copy_and_cached_reference_agree_after_updates(world, target_model, tmp_path):
    for strategy in ("copy", "cached"):
        _unlearn(world, target_model, tmp_path / strategy, "NPO", "train.max_steps=3", "train.batch_size=4",
                 f"method.reference={strategy}")
    for a, b in zip(_log(tmp_path / "copy"), _log(tmp_path / "cached")):
        assert a["forget_npo"] == pytest.approx(b["forget_npo"], rel=1e-5)


# -------------------------------------------------------------------------- resume and safety


class _Interrupt(Exception):
    pass


def _interrupt_at(monkeypatch, step_to_fail: int):
    from unlearn.engine import step as step_module

    original = step_module.StepRunner.run

    def run(self, step):
        if step == step_to_fail:
            raise _Interrupt(f"killed at step {step}")
        return original(self, step)

    monkeypatch.setattr(step_module.StepRunner, "run", run)


@pytest.mark.parametrize("method", ["NPO_KLR", "NPO+GRU", "BS_S", "GA_GDR+DGS"])
def test_interrupted_run_with_state_resumes_identical(method, world, target_model, tmp_path, monkeypatch):
    """References (copy / cached), transform state (GRU's moving average) and refreshed streams (BS_S's
    own answers) resume so that the result equals an uninterrupted run's bit for bit."""
    extra = ["train.max_steps=6", "train.batch_size=4", "train.save_every=2", "train.keep_checkpoints=2"]
    if method == "BS_S":
        extra.append("method.params.ga_sampled.resample_every=1")  # regenerate every epoch (= 2.5 steps)
    _unlearn(world, target_model, tmp_path / "straight", method, *extra)

    with monkeypatch.context() as patch:
        _interrupt_at(patch, 5)
        with pytest.raises(_Interrupt):
            _unlearn(world, target_model, tmp_path / "resumed", method, *extra)
    ckpt = tmp_path / "resumed" / "checkpoints" / "step-000004"
    assert (ckpt / "trainer_state.json").is_file()
    result = _unlearn(world, target_model, tmp_path / "resumed", method, *extra)
    assert result["resumed_from"] == 4
    a, b = _weights(tmp_path / "straight" / "model"), _weights(tmp_path / "resumed" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [_numbers(e) for e in _log(tmp_path / "straight")] == [_numbers(e) for e in _log(tmp_path / "resumed")]
    if method == "BS_S":
        made = sorted(p.name for p in (tmp_path / "resumed" / "streams").iterdir())
        assert made == ["forget_sampled-0000.json", "forget_sampled-0001.json", "forget_sampled-0002.json"]


class _Payload:
    """Unpickling this writes a marker file: a stand-in for arbitrary code in a planted pickle."""

    marker = ""

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


def test_planted_pickle_in_checkpoint_is_never_executed(world, target_model, tmp_path, monkeypatch):
    import pickle

    extra = ["train.max_steps=4", "train.batch_size=4", "train.save_every=2"]
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 3)
        with pytest.raises(_Interrupt):
            _unlearn(world, target_model, tmp_path / "run", "NPO_GDR", *extra)
    ckpt = tmp_path / "run" / "checkpoints" / "step-000002"
    marker = tmp_path / "executed"
    _Payload.marker = str(marker)
    payload = pickle.dumps(_Payload())
    # Where Accelerate's save_state and torch.save would have put pickles.
    for name in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl", "pytorch_model.bin", "custom_checkpoint_0.pkl"):
        (ckpt / name).write_bytes(payload)
    pickle.loads(payload)  # the payload is live: unpickling it does write the marker
    assert marker.read_text() == "pwned"
    marker.unlink()

    result = _unlearn(world, target_model, tmp_path / "run", "NPO_GDR", *extra)
    assert result["resumed_from"] == 2 and result["steps"] == 4
    assert not marker.exists()


class _NaNGradAfterTwoCalls:
    calls = 0


def _nan_grad_term():
    from unlearn.methods import Term

    class NaNGrad(Term):
        """GA whose value stays finite but whose gradient is NaN from its third call on:
        d/dx sqrt(x - x) at 0 is inf, times 0 = NaN."""

        def loss_sum(self, outs):
            _NaNGradAfterTwoCalls.calls += 1
            out = outs["forget"]
            value = out.token_logps[out.target_mask].sum()
            if _NaNGradAfterTwoCalls.calls > 2:
                value = value + torch.sqrt(value - value)
            return value

    return NaNGrad


def test_non_finite_gradient_stops_before_the_update(world, target_model, tmp_path):
    from unlearn.methods import TERMS

    TERMS.add("nan_grad", _nan_grad_term())
    _NaNGradAfterTwoCalls.calls = 0
    try:
        with pytest.raises(TrainingDiverged) as err:
            _unlearn(world, target_model, tmp_path, "custom", "method.forget=nan_grad", "train.max_steps=6",
                     "train.batch_size=4", "train.save_every=1", "train.keep_checkpoints=3")
    finally:
        TERMS.remove("nan_grad")
    message = str(err.value)
    assert "gradient norm became nan at step 3" in message and "step-000002" in message
    log = _log(tmp_path)
    assert [e["step"] for e in log] == [1, 2, 3] and log[-1]["event"] == "diverged"
    assert math.isfinite(log[1]["loss"])
    named = tmp_path / "checkpoints" / "step-000002" / "trainable.safetensors"
    weights = load_file(str(named))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (tmp_path / "checkpoints" / "step-000003").exists()  # the bad update was never saved
    assert not (tmp_path / "model").exists()


# ------------------------------------------------------------------------- kinds of methods


def test_gru_applied_gradient_never_points_against_the_retain_average(world, target_model, tmp_path, monkeypatch):
    """Whenever <g_u, m> < 0, the gradient the optimiser applies has <g, m> >= 0 (it is g_u with its
    m-component removed); the test captures what the optimiser really sees."""
    from unlearn.methods.transforms import GRU

    seen: list[tuple[float, float]] = []
    original_apply = GRU.apply

    def apply(self, grads, step):
        rectified = original_apply(self, grads, step)
        average = [a.clone() for a in self.average]
        # <g_u, m> worked out here, in float64, independently of the transform's own statistics.
        raw = sum(float((g.double() * a.double()).sum()) for g, a in zip(grads["forget"], average))
        self._check = (raw, average)
        return rectified

    original_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        raw_dot, average = captured["gru"]._check
        applied = [p.grad.detach().clone() for group in self.param_groups for p in group["params"]]
        seen.append((raw_dot, sum(float((g.double() * a.double()).sum()) for g, a in zip(applied, average))))
        return original_step(self, *args, **kwargs)

    captured: dict = {}
    original_init = GRU.__init__

    def init(self, params=None):
        original_init(self, params)
        captured["gru"] = self

    monkeypatch.setattr(GRU, "apply", apply)
    monkeypatch.setattr(GRU, "__init__", init)
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    _unlearn(world, target_model, tmp_path, "GA+GRU", "train.max_steps=8", "train.batch_size=4")
    assert len(seen) == 8
    conflicts = [(raw, after) for raw, after in seen if raw < 0]
    assert conflicts, "no step had a conflicting gradient, so the test proves nothing"
    for raw, after in conflicts:
        assert after >= -1e-6 * abs(raw)
    log = _log(tmp_path)
    assert [e["gru_projected"] for e in log] == [float(raw < 0) for raw, _ in seen]


def test_rmu_changes_only_the_chosen_modules(world, target_model, tmp_path):
    _unlearn(world, target_model, tmp_path, "RMU", "train.max_steps=2", "train.batch_size=4",
             "method.params.rmu.coefficient=20")
    before, after = _weights(target_model), _weights(tmp_path / "model")
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    # 1-layer model: round(7/32 * 1) = 0, so only layer 0's mlp.down_proj trains.
    assert changed == ["model.layers.0.mlp.down_proj.weight"]
    log = _log(tmp_path)
    assert log[0]["forget_rmu"] > 0 and log[0]["retain_rmu_retain"] == pytest.approx(0.0, abs=1e-9)


def test_dpo_pairs_in_each_row_belong_to_the_same_question(world, target_model, tmp_path, monkeypatch):
    """Every micro-batch of the forget stream and of its refusal stream hold the same questions in the
    same rows: the prompts (label -100, attended) are the same text. (Their last token may differ: with
    joint tokenisation the template's trailing space joins the answer's first word when the vocabulary
    has that merge, e.g. 'ĠParis', and stays in the prompt when it has not.)"""
    from transformers import AutoTokenizer

    from unlearn.engine.step import StepData

    tokenizer = AutoTokenizer.from_pretrained(target_model)

    batches: dict[tuple[int, int], dict[str, dict]] = {}
    original = StepData.batch

    def batch(self, stream, step, micro, rank, device):
        out = original(self, stream, step, micro, rank, device)
        batches.setdefault((step, micro), {})[stream] = out
        return out

    monkeypatch.setattr(StepData, "batch", batch)
    _unlearn(world, target_model, tmp_path, "DPO", "train.max_steps=3", "train.batch_size=4", "train.grad_accum=2")
    assert len(batches) == 6
    questions = set()
    for pair in batches.values():
        forget, refusal = pair["forget"], pair["forget_idk"]
        assert torch.equal(forget["index"], refusal["index"])
        for row in range(forget["input_ids"].shape[0]):
            def prompt(b):
                ids = b["input_ids"][row][(b["labels"][row] == -100) & (b["attention_mask"][row] == 1)]
                return tokenizer.decode(ids).rstrip()

            assert prompt(forget) == prompt(refusal) and "Question: " in prompt(forget)
            questions.add(prompt(forget))
            # ...and the targets differ: the forget answer vs a refusal
            assert not torch.equal(forget["labels"][row], refusal["labels"][row])
    assert len(questions) > 4  # many different questions were paired, not one repeated


def test_sure_updates_only_the_rows_with_the_largest_forget_gradient(world, target_model, tmp_path, monkeypatch):
    """GA_GDR+SURE, one step, no weight decay: the weight rows that change are exactly those whose
    forget-gradient norm is at or above the 99th percentile of all row norms (computed here with numpy
    from the captured forget gradient), and no vector (norm weights) changes."""
    import numpy as np

    from unlearn.methods.transforms import SURE

    captured = {}
    original = SURE.apply

    def apply(self, grads, step):
        captured["forget"] = [g.detach().clone() for g in grads["forget"]]
        return original(self, grads, step)

    monkeypatch.setattr(SURE, "apply", apply)
    names = []
    from unlearn.engine import trainer as trainer_mod

    original_prepare = trainer_mod._Run._prepare

    def prepare(self):
        original_prepare(self)
        names.extend(n for n, p in self.acc.unwrap_model(self.model).named_parameters() if p.requires_grad)

    monkeypatch.setattr(trainer_mod._Run, "_prepare", prepare)
    _unlearn(world, target_model, tmp_path, "GA_GDR+SURE", "train.max_steps=1", "train.batch_size=4",
             "train.weight_decay=0")
    grads = dict(zip(names, captured["forget"]))
    norms = np.concatenate([g.double().norm(dim=1).numpy() for g in grads.values() if g.dim() == 2])
    threshold = np.percentile(norms, 99)
    expected = {(n, i) for n, g in grads.items() if g.dim() == 2
                for i, v in enumerate(g.double().norm(dim=1).tolist()) if v >= threshold}
    before, after = _weights(target_model), _weights(tmp_path / "model")
    changed = {(n, i) for n in grads if before[n].dim() == 2
               for i in range(before[n].shape[0]) if not torch.equal(before[n][i], after[n][i])}
    assert changed == expected
    assert 0 < len(changed) <= 0.011 * len(norms) + 1
    assert all(torch.equal(before[n], after[n]) for n in grads if before[n].dim() == 1)


def test_dgs_keeps_the_scheduled_fraction_of_coordinates(world, target_model, tmp_path):
    """The fraction of gradient coordinates DGS lets through decays linearly from 0.8 to 0.4 over the
    run (5 steps: 0.8, 0.7, 0.6, 0.5, 0.4), and resuming keeps its score (the resume test above)."""
    _unlearn(world, target_model, tmp_path, "GA_GDR+DGS", "train.max_steps=5", "train.batch_size=4")
    log = _log(tmp_path)
    assert [round(e["dgs_keep"], 6) for e in log] == [0.8, 0.7, 0.6, 0.5, 0.4]
    for entry in log:  # per tensor round(fraction * n) coordinates: within rounding of the schedule
        assert entry["dgs_kept"] == pytest.approx(entry["dgs_keep"], abs=1e-3)


def test_dgs_top_fraction_by_hand():
    from unlearn.methods.transforms import _top_fraction

    score = torch.tensor([[0.5, -2.0, 3.0], [1.0, 0.0, -1.0]])
    # the 3 largest of 6 (fraction 0.5): 3.0, 1.0, 0.5
    assert _top_fraction(score, 0.5).tolist() == [[True, False, True], [True, False, False]]
    assert _top_fraction(score, 0.01).tolist() == [[False, False, True], [False, False, False]]  # at least one


def test_gru_applies_the_presets_own_retain_gradient_and_never_the_guides():
    """Worked by hand, one parameter vector of 2. Step 1, f = (1, 0), r = (1, 1): m = 0.8 r = (0.8, 0.8)
    (the average starts at zero). With the preset's own retain term g_u = f + r = (2, 1), <g_u, m> = 2.4 > 0:
    applied unchanged. With a guide instead, g_u = f = (1, 0) is applied and r only feeds m."""
    from unlearn.methods.transforms import GRU

    f, r = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    own = GRU().apply({"forget": [f], "retain": [r]}, 0)
    assert own[0].tolist() == pytest.approx([2.0, 1.0])
    guided = GRU()
    assert guided.apply({"forget": [f], "guide": [r]}, 0)[0].tolist() == pytest.approx([1.0, 0.0])
    assert guided.average[0].tolist() == pytest.approx([0.8, 0.8])
    # Step 2, f = (3, 0), guide r = (-1, 1): m = 0.8 (-1, 1) + 0.2 (0.8, 0.8) = (-0.64, 0.96);
    # <f, m> = -1.92 < 0, ||m||^2 = 0.4096 + 0.9216 = 1.3312, f - (-1.92 / 1.3312) m
    # = (3 - 1.4423077 * 0.64, 1.4423077 * 0.96) = (2.0769231, 1.3846154)
    out = guided.apply({"forget": [torch.tensor([3.0, 0.0])], "guide": [torch.tensor([-1.0, 1.0])]}, 1)
    assert guided.average[0].tolist() == pytest.approx([-0.64, 0.96])
    assert out[0].tolist() == pytest.approx([2.0769231, 1.3846154], rel=1e-6)


def test_dgs_applies_the_masked_forget_gradient_and_never_the_guides():
    """GA+DGS: every applied coordinate is the forget gradient's or 0; with NPO_GDR's own retain term the
    kept coordinates carry forget + retain."""
    from unlearn.methods.transforms import DGS

    f, r = torch.tensor([[1.0, -2.0], [3.0, 0.5]]), torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    dgs = DGS()
    dgs.start(1)  # one step: keep 0.8 of 4 coordinates = 3
    # score = f * r (the running mean of r after one step is r): 1, -2, 3, 0.5 -> keep 3, 1, 0.5
    applied = dgs.apply({"forget": [f], "guide": [r]}, 0)[0]
    assert applied.tolist() == [[1.0, 0.0], [3.0, 0.5]]
    dgs = DGS()
    dgs.start(1)
    assert dgs.apply({"forget": [f], "retain": [r]}, 0)[0].tolist() == [[2.0, 0.0], [4.0, 1.5]]


def test_transform_state_is_checkpointed_and_restored():
    """The declared state of GRU (its average) and DGS (score, retain sum, steps seen) goes into a
    checkpoint and comes back: nothing before the first step, the same tensors and count after."""
    from unlearn.methods.transforms import DGS, GRU

    f, r = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])], [torch.tensor([1.0, 1.0]), torch.tensor([-1.0])]
    gru, dgs = GRU(), DGS()
    assert gru.state_dict() == {} and dgs.state_dict() == {}
    gru.apply({"forget": f, "guide": r}, 0)
    for step in range(2):
        dgs.apply({"forget": f, "guide": r}, step)
    saved = gru.state_dict()
    assert sorted(saved) == ["average.0", "average.1"]
    assert saved["average.0"].tolist() == pytest.approx([0.8, 0.8]) and saved["average.1"].tolist() == pytest.approx([-0.8])
    saved = dgs.state_dict()
    assert sorted(saved) == ["retain_sum.0", "retain_sum.1", "score.0", "score.1", "seen"]
    assert int(saved["seen"]) == 2 and saved["retain_sum.1"].tolist() == [-2.0]  # r summed over 2 steps
    # score after 2 steps: f * r / 1 + f * 2r / 2 = 2 f * r: (2, 0) and (-4)
    assert saved["score.0"].tolist() == [2.0, 0.0] and saved["score.1"].tolist() == [-4.0]
    restored_gru, restored_dgs = GRU(), DGS()
    restored_gru.load_state_dict(gru.state_dict())
    restored_dgs.load_state_dict(dgs.state_dict())
    assert [t.tolist() for t in restored_gru.average] == [t.tolist() for t in gru.average]
    assert restored_dgs.seen == 2 and [t.tolist() for t in restored_dgs.score] == [[2.0, 0.0], [-4.0]]
    assert [t.tolist() for t in restored_dgs.retain_sum] == [[2.0, 2.0], [-2.0]]
    empty = DGS()
    empty.load_state_dict({})  # a checkpoint made before the first step
    assert empty.score is None and empty.seen == 0


def test_npo_gdr_gru_is_not_npo_gru(world, target_model, tmp_path):
    """NPO_GDR+GRU applies GDR's descent (rectified with NPO); NPO+GRU applies the rectified NPO gradient
    alone: after 3 steps the weights differ."""
    _unlearn(world, target_model, tmp_path / "gdr", "NPO_GDR+GRU", "train.max_steps=3", "train.batch_size=4")
    _unlearn(world, target_model, tmp_path / "plain", "NPO+GRU", "train.max_steps=3", "train.batch_size=4")
    with_gdr, plain = _weights(tmp_path / "gdr" / "model"), _weights(tmp_path / "plain" / "model")
    assert any(not torch.equal(with_gdr[k], plain[k]) for k in plain)
    assert "guide_gdr" in _log(tmp_path / "plain")[0] and "retain_gdr" in _log(tmp_path / "gdr")[0]


def test_redraw_draws_refusals_and_random_answers_anew_each_epoch(world, target_model, tmp_path, monkeypatch):
    """data.redraw: draw 0 is the run's usual draw; later draws give other refusals to some questions
    (the same for the same draw), and the trainer asks for one draw per epoch; DPO's reference then can
    no longer be cached log-probs (auto picks a frozen copy; cached is refused)."""
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.engine import trainer
    from unlearn.engine.streams import forget_idk_stream, forget_random_stream, redrawn

    cfg = load_config(overrides=_overrides(world, target_model, tmp_path / "x", "IDK", "data.redraw=true"))
    bench = benchmark_from_config(cfg.data)
    first, again = forget_idk_stream(cfg, bench), redrawn("forget_idk", cfg, bench, 0)
    assert first == again
    second = redrawn("forget_idk", cfg, bench, 1)
    assert [r["question"] for r in second] == [r["question"] for r in first]
    assert sum(a["answer"] != b["answer"] for a, b in zip(first, second)) >= len(first) // 2
    assert second == redrawn("forget_idk", cfg, bench, 1)
    assert forget_random_stream(cfg, bench) != redrawn("forget_random", cfg, bench, 2)

    draws: list[tuple[str, int]] = []
    real = trainer.redrawn

    def recording(name, c, b, draw):
        draws.append((name, draw))
        return real(name, c, b, draw)

    monkeypatch.setattr(trainer, "redrawn", recording)
    n = len(first)
    _unlearn(world, target_model, tmp_path / "idk", "IDK", "data.redraw=true", "train.batch_size=4",
             f"train.max_steps={-(-2 * n // 4)}")  # two epochs of the forget set
    assert draws == [("forget_idk", 0), ("forget_idk", 1)]
    from unlearn.engine.before import check_train
    from unlearn.methods import build_method

    dpo = load_config(overrides=_overrides(world, target_model, tmp_path / "d", "DPO", "data.redraw=true"))
    assert check_train(dpo, build_method(dpo.method)) == "copy"
    cached = load_config(overrides=_overrides(world, target_model, tmp_path / "d", "DPO", "data.redraw=true",
                                              "method.reference=cached"))
    with pytest.raises(ConfigError, match="draws its refusals or answers anew"):
        check_train(cached, build_method(cached.method))


def test_mismatch_answers_gives_each_forget_question_k_random_answers_drawn_together(world, target_model, tmp_path):
    """data.mismatch_answers=K (LLMU's authors average K = 5 random answers per forget question): the
    forget_random stream holds K consecutive rows per forget row, each with that row's question and an
    answer from the retain set, and a step draws the K rows of every forget row it draws."""
    from unlearn.data.benchmarks import benchmark_from_config
    from unlearn.engine.batches import BatchLayout, StreamSampler
    from unlearn.engine.step import StepData
    from unlearn.engine.streams import forget_random_stream, forget_stream, retain_stream

    cfg = load_config(overrides=_overrides(world, target_model, tmp_path / "x", "LLMU", "data.mismatch_answers=3"))
    bench = benchmark_from_config(cfg.data)
    forget, rows = forget_stream(cfg, bench), forget_random_stream(cfg, bench)
    assert len(rows) == 3 * len(forget)
    assert [r["question"] for r in rows] == [f["question"] for f in forget for _ in range(3)]
    retained = {r["answer"] for r in retain_stream(cfg, bench)}
    assert all(r["answer"] in retained for r in rows)
    assert len({r["answer"] for r in rows[:30]}) > 10  # drawn, not one answer repeated

    # 4 forget rows, K = 2 random rows each; a batch of 2 forget rows brings their 4 random rows
    encoded = {"forget": [{"input_ids": [1, 10 + i], "labels": [-100, 10 + i]} for i in range(4)],
               "forget_random": [{"input_ids": [1, 20 + i], "labels": [-100, 20 + i]} for i in range(8)]}
    data = StepData(encoded, {"forget": [1] * 4, "forget_random": [1] * 8},
                    {"forget": StreamSampler(4, 2, 0, "forget")}, BatchLayout(1, 1), 0)
    drawn = data.batch("forget", 0, 0, 0, "cpu")["index"].tolist()
    assert data.batch("forget_random", 0, 0, 0, "cpu")["index"].tolist() == [2 * i + j for i in drawn for j in (0, 1)]
    _unlearn(world, target_model, tmp_path / "llmu", "LLMU", "data.mismatch_answers=2", "train.max_steps=2",
             "train.batch_size=4")
    logged = _log(tmp_path / "llmu")
    assert len(logged) == 2 and all(math.isfinite(row["loss"]) for row in logged)


def test_one_forward_over_all_streams_equals_a_pass_per_stream(world, target_model):
    """Forget and retain batches of different lengths through one joint pass: every stream's log-probs,
    logits and hidden states, and GA_GDR's loss, equal those of a pass per stream (to 1e-6)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from unlearn.config import MethodConfig
    from unlearn.core.batching import collate
    from unlearn.data.tokenize import PromptFormatter
    from unlearn.engine.step import forward_streams
    from unlearn.methods import build_method
    from unlearn.methods.base import Needs, weighted_loss

    tokenizer = AutoTokenizer.from_pretrained(target_model)
    model = AutoModelForCausalLM.from_pretrained(target_model).eval()
    formatter = PromptFormatter(tokenizer)
    batches = {}
    for stream, split, rows in (("forget", "forget10", 3), ("retain", "retain90", 5)):
        records = json.loads((world / f"{split}.json").read_text())
        records = sorted(records, key=lambda r: len(r["question"] + r["answer"]))  # shortest forget, longest retain
        records = records[:rows] if stream == "forget" else records[-rows:]
        batch = collate([formatter.encode(r["question"], r["answer"]) for r in records], tokenizer.pad_token_id)
        batches[stream] = {**batch, "index": torch.arange(rows)}
    assert batches["forget"]["input_ids"].shape[1] != batches["retain"]["input_ids"].shape[1]
    needs = {s: Needs(logits=True, hidden_layers=(0,)) for s in batches}
    joint = forward_streams(model, batches, needs, None)
    for stream, batch in batches.items():
        alone = forward_streams(model, {stream: batch}, needs, None)[stream]
        assert joint[stream].token_logps.shape == alone.token_logps.shape
        assert torch.allclose(joint[stream].token_logps, alone.token_logps, atol=1e-6)
        assert torch.allclose(joint[stream].logits, alone.logits, atol=1e-5)
        assert torch.allclose(joint[stream].hidden[0], alone.hidden[0], atol=1e-5)
        assert torch.equal(joint[stream].target_mask, alone.target_mask)
    method = build_method(MethodConfig(name="GA_GDR"))
    counts = {t.key: 10 for t in method.terms}
    apart = {s: forward_streams(model, {s: b}, needs, None)[s] for s, b in batches.items()}
    together, _ = weighted_loss(method.terms, joint, counts)
    separate, _ = weighted_loss(method.terms, apart, counts)
    assert abs(float(together) - float(separate)) < 1e-6
