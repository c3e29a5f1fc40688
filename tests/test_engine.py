"""The training engine: every method trains, NaN stops a run safely, a killed run resumes exactly,
and the same code runs under `accelerate launch` with two processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unlearn import api
from unlearn.config import load_config
from unlearn.core.errors import TrainingDiverged
from unlearn.methods import PRESETS, TERMS, Term

from conftest import REPO, run_cli

UNLEARNING_PRESETS = [name for name in PRESETS if name != "finetune"] + ["NPO+GRU", "GA_GDR+GRU"]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


# Forget objectives that ascend the forget answers' NLL: two steps must raise it.
ASCENT_TERMS = {"ga", "wga", "satimp", "tnpo", "ts", "npo", "simnpo", "bst", "ga_sampled"}


def _forget_nll(model_dir: Path, world: Path) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from unlearn.data.tokenize import PromptFormatter
    from unlearn.eval.passes import teacher_forced_pass

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    formatter = PromptFormatter(tokenizer)
    records = json.loads((world / "forget10.json").read_text())
    encoded = [formatter.encode(r["question"], r["answer"]) for r in records]
    return -sum(sum(r["token_logps"]) for r in teacher_forced_pass(model, encoded, tokenizer.pad_token_id))


@pytest.fixture(scope="module")
def targets_file(world, tmp_path_factory) -> Path:
    """New targets for ReLearn / TRU: a vague answer to each forget question (JSON lines)."""
    path = tmp_path_factory.mktemp("targets") / "targets.jsonl"
    records = json.loads((world / "forget10.json").read_text())
    path.write_text("".join(json.dumps({"question": r["question"], "answer": "That is not something I can share."})
                            + "\n" for r in records))
    return path


@pytest.mark.parametrize("name", UNLEARNING_PRESETS)
def test_every_preset_trains_two_steps(name, world, target_model, targets_file, tmp_path):
    """Registry-driven: every preset (a new one is covered without new test code) trains two steps with
    a finite loss, changes parameters, saves a plain model; ascent objectives raise the forget NLL."""
    from unlearn.config import MethodConfig
    from unlearn.methods import build_method

    method = build_method(MethodConfig(name=name))
    out = tmp_path / name
    extra = [f"data.targets={targets_file}"] if "targets" in method.streams else []
    cfg = load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                 f"method.name={name}", "train.max_steps=2", "train.batch_size=4",
                                 "train.lr=1e-3", "eval.enabled=false", *extra])
    result = api.run_unlearning(cfg)
    assert result["steps"] == 2
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in log)
    before, after = _weights(target_model), _weights(out / "model")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, f"{name} did not change any parameter"
    # The saved model is a plain Hugging Face model.
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "model").config.num_hidden_layers == 1
    forget_terms = {t.key for t in method.terms if t.role == "forget"}
    if forget_terms <= ASCENT_TERMS:
        assert _forget_nll(out / "model", world) > _forget_nll(target_model, world), name


class _NaNAfterTwoCalls(Term):
    """GA that returns NaN from its third call on: a run that diverges."""

    calls = 0

    def loss_sum(self, outs):
        type(self).calls += 1
        out = outs["forget"]
        value = out.token_logps[out.target_mask].sum()
        return value * float("nan") if type(self).calls > 2 else value


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(world, target_model, tmp_path):
    TERMS.add("nan_after_2", _NaNAfterTwoCalls)
    try:
        cfg = load_config(overrides=[f"out={tmp_path}", f"model.path={target_model}", f"data.path={world}",
                                     "method.name=custom", "method.forget=nan_after_2", "train.max_steps=10",
                                     "train.batch_size=4", "train.save_every=1", "eval.enabled=false"])
        with pytest.raises(TrainingDiverged) as err:
            api.run_unlearning(cfg)
    finally:
        TERMS.remove("nan_after_2")
    message = str(err.value)
    assert "nan" in message and "step 3" in message and "step-000002" in message and "train.lr" in message
    ckpt = tmp_path / "checkpoints" / "step-000002"
    assert (ckpt / "trainer_state.json").is_file()
    # The kept checkpoint holds finite weights (the NaN update was never applied).
    weights = load_file(str(ckpt / "trainable.safetensors"))
    assert len(weights) == len(_weights(target_model))  # full weights train: every parameter is there
    assert all(torch.isfinite(w).all() for w in weights.values())
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3] and log[-1]["event"] == "diverged"
    assert not (tmp_path / "model").exists()


def _finetune_args(world: Path, init_model: Path, out: Path) -> list[str]:
    return ["finetune", f"out={out}", f"model.path={init_model}", f"data.path={world}", "train.lr=3e-3",
            "train.max_steps=240", "train.batch_size=8", "train.save_every=20", "train.scheduler=cosine",
            "train.warmup_steps=10", "eval.max_new_tokens=16"]


@pytest.mark.slow  # 40 s; tests/test_faults.py kills runs at five points (also slow, run by CI)
def test_killed_run_resumes_and_matches_uninterrupted(world, init_model, tmp_path):
    """A fine-tuning run with a cosine schedule and warm-up, killed from outside after step 40, resumes
    to the same weights, metrics and log as a run never interrupted."""
    args_a = _finetune_args(world, init_model, tmp_path / "a")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "unlearn", *args_a], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt_dir = tmp_path / "a" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in ckpt_dir.glob("step-*") if (p / "trainer_state.json").exists()] if ckpt_dir.exists() else []
        if any(int(p.name.split("-")[1]) >= 40 for p in done):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "a" / "model").exists()
    # The kill may land between a new checkpoint and the pruning of the old one: resume uses the newest.
    complete = [p for p in ckpt_dir.glob("step-*") if (p / "trainer_state.json").is_file()]
    resumed_from = max(json.loads((p / "trainer_state.json").read_text())["step"] for p in complete)
    assert 40 <= resumed_from < 240

    again = run_cli(*args_a)
    assert again.returncode == 0, again.stderr
    assert "resuming from" in again.stdout + again.stderr
    state = json.loads((tmp_path / "a" / "train_state.json").read_text())
    assert state["resumed_from"] == resumed_from and state["steps"] == 240

    straight = run_cli(*_finetune_args(world, init_model, tmp_path / "b"))
    assert straight.returncode == 0, straight.stderr
    metrics_a = json.loads((tmp_path / "a" / "metrics.json").read_text())["metrics"]
    metrics_b = json.loads((tmp_path / "b" / "metrics.json").read_text())["metrics"]
    assert metrics_a == metrics_b
    log_a = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    log_b = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(x).items() if k != "elapsed_s"} for x in lines]  # noqa: E731
    assert strip(log_a) == strip(log_b)
    wa, wb = _weights(tmp_path / "a" / "model"), _weights(tmp_path / "b" / "model")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_run_trains_and_saves(world, init_model, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    # torchrun sets RANK / WORLD_SIZE; Accelerate then trains on CPU with the gloo backend.
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         "-m", "unlearn", "finetune", f"out={out}", f"model.path={init_model}",
         f"data.path={world}", "train.max_steps=6", "train.batch_size=4", "train.save_every=3",
         "eval.enabled=false"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "train_state.json").read_text())
    assert state == {**state, "completed": True, "steps": 6}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 7))  # written once, by the main process
    # Each step consumed batch_size x 2 processes samples: the epoch counter shows it.
    n_train = len(json.loads((world / "full.json").read_text())) + 8  # + general facts
    assert log[-1]["epoch"] == pytest.approx(6 * 4 * 2 / n_train, abs=1e-3)
    cost = json.loads((out / "cost.json").read_text())  # the passes of both processes, summed
    assert cost["processes"] == 2 and cost["passes"]["forward"] == {"train": 12}
    assert len(cost["memory"]["cpu_peak_rss_mib_by_process"]) == 2
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / "model")
    before, after = _weights(init_model), _weights(out / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert model is not None


@pytest.mark.parametrize("name", UNLEARNING_PRESETS)
def test_every_preset_trains_two_steps_with_lora(name, world, target_model, targets_file, tmp_path):
    """Registry-driven, under LoRA: only the adapter trains, so in the merged result the embeddings
    and norms are exactly the original's and some linear weight moved."""
    from unlearn.config import MethodConfig
    from unlearn.methods import build_method

    method = build_method(MethodConfig(name=name))
    out = tmp_path / name
    extra = [f"data.targets={targets_file}"] if "targets" in method.streams else []
    cfg = load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                 f"method.name={name}", "train.max_steps=2", "train.batch_size=4",
                                 "train.lr=1e-2", "eval.enabled=false", "lora.r=4", *extra])
    api.run_unlearning(cfg)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in log)
    before, after = _weights(target_model), _weights(out / "model")
    assert set(before) == set(after)  # merged: a plain model, no adapter keys
    frozen = [k for k in before if "embed" in k or "norm" in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("proj.weight")), name
