"""The training loop, on Accelerate: one code path for fine-tuning and for every unlearning method.

Each optimizer step runs `grad_accum` micro-batches. For each micro-batch the engine runs one forward
pass per data stream the method uses, computes what its terms declared they need (token log-probs
always; logits, reference log-probs or reference logits on request), and backpropagates the method's
weighted loss. Batches are a pure function of (seed, stream, step, micro-batch, process), so a
resumed run sees exactly the batches an uninterrupted run would.

Checkpoints (`checkpoints/step-N`, via `Accelerator.save_state`: model as safetensors, optimizer,
scheduler, RNG states) are written every `train.save_every` steps; starting the same command again
resumes from the newest. A NaN or infinite loss stops the run before the bad update, with a
:class:`TrainingDiverged` error that names the last good checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from unlearn.config import RunConfig
from unlearn.data.benchmarks import load_benchmark
from unlearn.data.streams import build_stream
from unlearn.data.tokenize import PromptFormatter, collate
from unlearn.engine.reference import FrozenCopy, Reference, make_reference
from unlearn.errors import ConfigError, TrainingDiverged
from unlearn.losses import token_logps_from_logits
from unlearn.methods import Method, StreamOutputs, build_method
from unlearn.models import load_model, load_tokenizer, save_model
from unlearn.run import write_json, write_run_info

DONE_FILE = "train_state.json"


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    resumed_from: int
    skipped: bool = False


class StreamSampler:
    """Deterministic batches of one stream: sample position p maps to permutation p // n of the
    stream (seeded by seed, stream name and cycle), at offset p % n. Batches therefore stay full
    across epoch ends, and every process sees a disjoint slice of the same global batch."""

    def __init__(self, n: int, batch_size: int, seed: int, name: str):
        self.n, self.batch_size = n, batch_size
        self.salt = zlib.crc32(name.encode()) ^ (seed * 1_000_003)

    @lru_cache(maxsize=4)
    def _perm(self, cycle: int) -> list[int]:
        g = torch.Generator().manual_seed(self.salt + cycle)
        return torch.randperm(self.n, generator=g).tolist()

    def indices(self, step: int, micro: int, rank: int, world: int, accum: int) -> list[int]:
        per_step = self.batch_size * world * accum
        start = step * per_step + (micro * world + rank) * self.batch_size
        return [self._perm(p // self.n)[p % self.n] for p in range(start, start + self.batch_size)]


def _finite_everywhere(accelerator: Any, value: torch.Tensor) -> bool:
    flag = torch.tensor([1.0 if torch.isfinite(value).all() else 0.0], device=value.device)
    if accelerator.num_processes > 1:
        flag = accelerator.reduce(flag, reduction="sum") / accelerator.num_processes
    return bool(flag.item() == 1.0)


def _checkpoints(run_dir: Path) -> list[Path]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("step-*") if (p / "trainer_state.json").is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def forward_stream(model: torch.nn.Module, batch: dict[str, torch.Tensor], stream: str, needs: dict[str, bool],
                   reference: Reference | None) -> StreamOutputs:
    """One forward pass of the model over a stream's batch, plus what the terms need."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    token_logps, target_mask = token_logps_from_logits(logits, batch["labels"])
    out = StreamOutputs(token_logps=token_logps, target_mask=target_mask, index=batch["index"])
    if needs["logits"]:
        out.logits = logits[:, :-1, :]
    if needs["ref_logps"]:
        assert reference is not None
        out.ref_logps_sum = reference.logps_sum(stream, batch)
    if needs["ref_logits"]:
        assert reference is not None
        out.ref_logits = reference.logits(batch)[:, :-1, :]
    return out


def train(cfg: RunConfig, method: Method | None = None) -> TrainResult:
    """Train (fine-tune or unlearn) as `cfg` says; write the run folder `cfg.out`."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    run_dir = Path(cfg.out)
    model_dir = run_dir / "model"
    done_path = run_dir / DONE_FILE
    if done_path.is_file() and json.loads(done_path.read_text()).get("completed"):
        state = json.loads(done_path.read_text())
        return TrainResult(model_dir, state["steps"], state.get("resumed_from", 0), skipped=True)

    method = method or build_method(cfg.method)
    t = cfg.train
    if t.batch_size < 1 or t.grad_accum < 1:
        raise ConfigError("train.batch_size and train.grad_accum must be at least 1")
    # cpu=True without CUDA: Accelerate only sets up multi-process (gloo) CPU training when asked for cpu.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(t.seed)
    bench = load_benchmark(cfg.data.benchmark, cfg.data.path, cfg.data.forget_split)
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model)
    formatter = PromptFormatter(tokenizer, cfg.data.template, cfg.data.chat_template)

    # Encode each stream once.
    encoded: dict[str, list[dict[str, Any]]] = {}
    for stream in method.streams:
        records = build_stream(stream, cfg, bench)
        encoded[stream] = [formatter.encode(r["question"], r["answer"], cfg.data.max_length) for r in records]
    primary = method.streams[0]
    world, rank = accelerator.num_processes, accelerator.process_index
    samplers = {
        s: StreamSampler(len(encoded[s]), t.batch_size if s == primary else (t.retain_batch_size or t.batch_size),
                         t.seed, s)
        for s in method.streams
    }
    per_step = t.batch_size * world * t.grad_accum
    total_steps = t.max_steps if t.max_steps else math.ceil(t.epochs * len(encoded[primary]) / per_step)
    if total_steps < 1:
        raise ConfigError("training would run 0 steps; raise train.epochs or train.max_steps")

    if accelerator.is_main_process:
        write_run_info(run_dir, cfg, bench.data_hashes(), kind=method.name)
    accelerator.wait_for_everyone()

    model.to(accelerator.device)  # before the reference is made: cached log-probs are computed here
    reference = make_reference(cfg.method.reference, method, model, encoded, tokenizer.pad_token_id)
    if isinstance(reference, FrozenCopy):
        reference.model.to(accelerator.device)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
    warmup = t.warmup_steps if t.warmup_steps is not None else int(t.warmup_ratio * total_steps)
    try:
        scheduler = get_scheduler(t.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
    except ValueError as err:
        raise ConfigError(f"train.scheduler {t.scheduler!r}: {err}".splitlines()[0]) from None
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)

    # Resume from the newest complete checkpoint, if any.
    start_step = 0
    ckpts = _checkpoints(run_dir)
    log_path = run_dir / "log.jsonl"
    if ckpts:
        accelerator.load_state(str(ckpts[-1]))
        start_step = json.loads((ckpts[-1] / "trainer_state.json").read_text())["step"]
        if accelerator.is_main_process:
            accelerator.print(f"resuming from {ckpts[-1]} (step {start_step} of {total_steps})")
            _truncate_log(log_path, start_step)
    elif accelerator.is_main_process and log_path.exists():
        log_path.unlink()
    accelerator.wait_for_everyone()

    model.train()
    show_bar = accelerator.is_main_process and sys.stderr.isatty()
    bar = tqdm(total=total_steps, initial=start_step, disable=not show_bar,
               desc=f"{method.name}", dynamic_ncols=True, leave=False)
    started = time.time()
    n_primary = len(encoded[primary])
    for step in range(start_step, total_steps):
        logged: dict[str, float] = {}
        for micro in range(t.grad_accum):
            sync = contextlib.nullcontext() if micro == t.grad_accum - 1 else accelerator.no_sync(model)
            with sync:
                outputs = {}
                for s in method.streams:
                    idx = samplers[s].indices(step, micro, rank, world, t.grad_accum)
                    batch = collate([encoded[s][i] for i in idx], tokenizer.pad_token_id)
                    batch["index"] = torch.tensor(idx)
                    batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                    outputs[s] = forward_stream(model, batch, s, method.needs(s), reference)
                loss, parts = method.loss(outputs)
                if not _finite_everywhere(accelerator, loss):
                    bar.close()
                    _diverged(accelerator, run_dir, log_path, step, loss)
                accelerator.backward(loss / t.grad_accum)
            for k, v in {"loss": loss.detach(), **parts}.items():
                logged[k] = logged.get(k, 0.0) + float(v) / t.grad_accum
        if t.max_grad_norm:
            grad_norm = accelerator.clip_grad_norm_(trainable, t.max_grad_norm)
            logged["grad_norm"] = float(grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{logged['loss']:.4f}")
        if accelerator.is_main_process and (done % t.log_every == 0 or done == total_steps):
            entry = {"step": done, "epoch": round(done * per_step / n_primary, 4), "lr": scheduler.get_last_lr()[0],
                     **{k: round(v, 6) for k, v in logged.items()}, "elapsed_s": round(time.time() - started, 2)}
            with log_path.open("a") as f:
                f.write(json.dumps(entry) + "\n")
        if t.save_every and done % t.save_every == 0 and done < total_steps:
            _save_checkpoint(accelerator, run_dir, done, t.keep_checkpoints)
    bar.close()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), tokenizer, model_dir)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        write_json(done_path, {"completed": True, "steps": total_steps, "resumed_from": start_step,
                               "train_seconds": round(time.time() - started, 2)})
    accelerator.wait_for_everyone()
    return TrainResult(model_dir, total_steps, start_step)


def _truncate_log(log_path: Path, step: int) -> None:
    """Drop log entries written after the checkpoint a run resumes from."""
    if not log_path.is_file():
        return
    kept = [line for line in log_path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    log_path.write_text("".join(line + "\n" for line in kept))


def _save_checkpoint(accelerator: Any, run_dir: Path, step: int, keep: int) -> None:
    folder = run_dir / "checkpoints"
    final = folder / f"step-{step:06d}"
    tmp = folder / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    # Tied embeddings (lm_head = embed_tokens) make Accelerate warn on every save; the model reloads
    # them tied, so the warning is noise here.
    other_logger = logging.getLogger("accelerate.utils.other")
    level = other_logger.level
    other_logger.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
    finally:
        other_logger.setLevel(level)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in _checkpoints(run_dir)[:-max(keep, 1)]:
            # Unmark it first: a kill mid-delete must not leave a half-deleted folder that looks complete.
            (old / "trainer_state.json").unlink(missing_ok=True)
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _diverged(accelerator: Any, run_dir: Path, log_path: Path, step: int, loss: torch.Tensor) -> None:
    ckpts = _checkpoints(run_dir)
    value = float(loss.detach())
    where = f"the last good checkpoint is {ckpts[-1]}" if ckpts else "no checkpoint was saved yet (train.save_every)"
    if accelerator.is_main_process:
        with log_path.open("a") as f:
            f.write(json.dumps({"step": step + 1, "event": "diverged", "loss": str(value)}) + "\n")
    raise TrainingDiverged(
        f"the loss became {value} at step {step + 1}; training stopped before the bad update and {where}. "
        "Lower train.lr, set train.max_grad_norm, or change the method's weights, then run again"
    )
