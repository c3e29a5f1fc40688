"""The training loop, on Accelerate: one code path for fine-tuning and for every unlearning method.

`train(cfg)`:
1. checks everything that can be checked without a model (method, parameters, LoRA, reference
   strategy), locks the run folder, and compares the config with the one the folder was made with
   (a changed config is a one-line error naming the keys; a finished run with the same one is reused);
2. loads the model (wrapped with LoRA when `lora.r` > 0), lets each term set itself up (e.g. RMU
   chooses its trainable modules and draws its direction), encodes the streams;
3. runs steps (engine/step.py): one forward pass per stream, the method's loss normalised over the
   global batch, gradient transforms, clipping; a non-finite loss or gradient stops the run before the
   update; checkpoints (engine/checkpoint.py, no pickle) every `train.save_every` steps, and the same
   command resumes from the newest;
4. saves the result atomically (merged under LoRA by default), marks the run done, then removes the
   checkpoints.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unlearn.config import RunConfig, to_dict
from unlearn.data.benchmarks import Benchmark
from unlearn.engine.streams import build_stream, sampling_source
from unlearn.data.tokenize import PromptFormatter
from unlearn.engine.batches import BatchLayout, StreamSampler
from unlearn.engine.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from unlearn.core.atomic import clean_temp_folders, disk_errors, json_line, write_json, write_text
from unlearn.engine.collective import on_main
from unlearn.engine.integrity import LOCK_FILE, RunLock, check_fingerprint, training_fingerprint, write_fingerprint
from unlearn.engine.before import check_sharding, check_train, read_and_check, target_file_hashes
from unlearn.engine.lora import apply_lora, model_to_save
from unlearn.core.progress import Progress
from unlearn.engine.reference import FrozenCopy, make_reference
from unlearn.engine.refresh import refresh_index, refreshed_records
from unlearn.engine.step import StepData, StepRunner, finite_everywhere
from unlearn.core.errors import ConfigError, TrainingDiverged, UnlearnError
from unlearn.methods import Method, build_method
from unlearn.methods.base import SetupContext
from unlearn.models import load_model, load_tokenizer, save_model
from unlearn.models.loading import check_model_files, check_vocabulary, context_limit
from unlearn.engine.run_info import write_run_info

DONE_FILE = "train_state.json"


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    resumed_from: int
    skipped: bool = False


def _remove_if_empty(run_dir: Path) -> None:
    """Remove a run folder this call made when it holds nothing but its lock file."""
    if run_dir.is_dir() and all(p.name == LOCK_FILE for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def _take_lock(run_dir: Path) -> RunLock:
    with disk_errors(f"the run folder {run_dir}"):
        run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    message = lock.acquire()
    if message:
        raise UnlearnError(message)
    return lock


def _lock(accelerator: Any, run_dir: Path) -> RunLock | None:
    """The main process locks the folder; every process learns whether that worked."""
    return on_main(accelerator, _take_lock, run_dir)


def train(cfg: RunConfig, method: Method | None = None) -> TrainResult:
    """Train (fine-tune or unlearn) as `cfg` says; write the run folder `cfg.out`."""
    from accelerate import Accelerator

    method = method or build_method(cfg.method)
    strategy = check_train(cfg, method)
    # cpu=True without CUDA: Accelerate only sets up multi-process (gloo) CPU training when asked for cpu.
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), gradient_accumulation_steps=cfg.train.grad_accum)
    run_dir = Path(cfg.out)
    bench, records = read_and_check(cfg, method, accelerator)  # before any model loads: bad data costs nothing
    fingerprint = training_fingerprint(to_dict(cfg), {**bench.data_hashes(), **target_file_hashes(cfg)},
                                       accelerator.num_processes)
    fresh = not run_dir.exists()
    lock = _lock(accelerator, run_dir)
    failed_early = False
    try:
        done_path = run_dir / DONE_FILE
        finished = done_path.is_file() and json.loads(done_path.read_text()).get("completed")
        if finished or list_checkpoints(run_dir):
            what = "a finished run" if finished else "a checkpoint"
            if not check_fingerprint(run_dir, fingerprint, what):
                raise ConfigError(f"{run_dir} holds {what} without a config fingerprint (an older version made it); "
                                  f"delete {run_dir} to start afresh, or use a new out= folder")
        if finished:
            state = json.loads(done_path.read_text())
            return TrainResult(run_dir / "model", state["steps"], state.get("resumed_from", 0), skipped=True)
        try:
            check_model_files(cfg.model)  # a missing or unsafe model: nothing loaded, nothing left behind
        except UnlearnError:
            failed_early = True
            raise
        return _Run(cfg, method, strategy, accelerator, bench, fingerprint, records).train()
    finally:
        if lock is not None:
            lock.release()
        if failed_early and fresh and accelerator.is_main_process:
            _remove_if_empty(run_dir)


class _Run:
    """One training run's state, built step by step by `train`."""

    def __init__(self, cfg: RunConfig, method: Method, strategy: str | None, accelerator: Any, bench: Benchmark,
                 fingerprint: dict[str, Any], records: dict[str, list[dict[str, Any]]]):
        self.cfg, self.method, self.strategy, self.acc, self.bench = cfg, method, strategy, accelerator, bench
        self.fingerprint = fingerprint
        self.stream_records = records
        self.run_dir = Path(cfg.out)
        self.log_path = self.run_dir / "log.jsonl"

    # -- setup ----------------------------------------------------------------------------------
    def _load(self) -> None:
        from accelerate.utils import set_seed

        cfg = self.cfg
        set_seed(cfg.train.seed)  # dropout (e.g. LoRA's) and anything else drawing from the global RNGs
        with self.acc.main_process_first():  # a hub download happens once, on the main process
            self.tokenizer = load_tokenizer(cfg.model)
            model = load_model(cfg.model)
        check_vocabulary(model, self.tokenizer, cfg.model)
        self.max_length = context_limit(model, cfg.data.max_length)
        if cfg.lora.r > 0:
            model = apply_lora(model, cfg.lora, cfg.train.seed)
        ctx = SetupContext(model, cfg.train.seed)
        for t in self.method.terms:
            t.term.setup(ctx)
        if ctx.trainable_patterns is not None:
            for name, p in model.named_parameters():
                p.requires_grad_(p.requires_grad and any(pat in name for pat in ctx.trainable_patterns))
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(f"method {self.method.name}: no parameter is left to train "
                              f"(modules {ctx.trainable_patterns}); check the method's module parameters")
        self.model = model
        self.formatter = PromptFormatter(self.tokenizer, cfg.data.template, cfg.data.chat_template)
        self.during = None
        if cfg.eval.every_steps and self.acc.is_main_process:
            from unlearn.engine.during import DuringEval

            self.during = DuringEval(cfg, self.bench, self.tokenizer, self.formatter, self.run_dir, self.max_length)

    def _encode(self, stream: str, records: list[dict[str, Any]], report_cuts: bool = True) -> None:
        self.records[stream] = records
        before = len(self.formatter.cut_lengths)
        self.encoded[stream] = [self.formatter.encode_record(r, self.max_length.tokens) for r in records]
        self.target_counts[stream] = [sum(1 for x in e["labels"][1:] if x != -100) for e in self.encoded[stream]]
        if report_cuts and self.acc.is_main_process:
            self.max_length.report(self.formatter.cut_lengths[before:], len(records), f"the {stream} data")

    def _streams(self) -> StepData:
        t = self.cfg.train
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.encoded: dict[str, list[dict[str, list[int]]]] = {}
        self.target_counts: dict[str, list[int]] = {}
        for stream in self.method.streams:
            self._encode(stream, self.stream_records[stream])
        primary = sampling_source(self.method.streams[0])
        samplers: dict[str, StreamSampler] = {}
        for stream in self.method.streams:
            source = sampling_source(stream)
            if source not in samplers:
                size = t.batch_size if source == primary else (t.retain_batch_size or t.batch_size)
                samplers[source] = StreamSampler(len(self.encoded[stream]), size, t.seed, source)
            elif samplers[source].n != len(self.encoded[stream]):
                raise UnlearnError(f"stream {stream} has {len(self.encoded[stream])} samples but its source "
                                   f"{source} has {samplers[source].n}; aligned streams must match row by row")
        layout = BatchLayout(self.acc.num_processes, t.grad_accum)
        self.n_primary = samplers[primary].n
        self.per_step = t.batch_size * layout.slices
        self.total_steps = t.max_steps if t.max_steps else math.ceil(t.epochs * self.n_primary / self.per_step)
        if self.total_steps < 1:
            raise ConfigError("training would run 0 steps; raise train.epochs or train.max_steps")
        return StepData(self.encoded, self.target_counts, samplers, layout, self.tokenizer.pad_token_id)

    def _prepare(self) -> None:
        from accelerate.utils import DistributedType
        from transformers import get_scheduler

        acc, t = self.acc, self.cfg.train
        self.model.to(acc.device)  # before the reference: cached log-probs are computed here
        self.reference = make_reference(self.strategy, self.method, self.model, self.encoded,
                                        self.tokenizer.pad_token_id)
        sharded = acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
        check_sharding(acc, self.method, self.cfg.lora.r > 0, self.cfg.eval.every_steps)
        if isinstance(self.reference, FrozenCopy):
            ref = self.reference.model
            self.reference.model = acc.prepare_model(ref, evaluation_mode=True) if sharded else ref.to(acc.device)
        if acc.distributed_type == DistributedType.DEEPSPEED:
            if self.method.transforms:
                raise ConfigError(f"method {self.method.name}: gradient transforms need the gradients between "
                                  "backward and the optimizer step, which DeepSpeed's engine does not expose; "
                                  "run it with DDP or FSDP")
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
            self.model, self.optimizer = acc.prepare(self.model, optimizer)
        else:  # FSDP and DDP: the optimizer is built on the prepared model's parameters
            self.model = acc.prepare(self.model)
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            self.optimizer = acc.prepare(torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay))
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        warmup = t.warmup_steps if t.warmup_steps is not None else int(t.warmup_ratio * self.total_steps)
        try:
            self.scheduler = get_scheduler(t.scheduler, self.optimizer, num_warmup_steps=warmup,
                                           num_training_steps=self.total_steps)
        except ValueError as err:
            raise ConfigError(f"train.scheduler {t.scheduler!r}: {err}".splitlines()[0]) from None

    def _resume(self) -> int:
        acc = self.acc
        ckpts = list_checkpoints(self.run_dir)
        if ckpts:
            start = load_checkpoint(acc, ckpts[-1], self.model, self.optimizer, self.scheduler, self.method)
            if acc.is_main_process:
                acc.print(f"resuming from {ckpts[-1]} (step {start} of {self.total_steps})")
            on_main(acc, _truncate_log, self.log_path, start)
            on_main(acc, self._clean_leftovers)
            from unlearn.engine.during import truncate_curve

            on_main(acc, truncate_curve, self.run_dir, start)
            self.last_checkpoint: Path | None = ckpts[-1]
            return start
        self.last_checkpoint = None
        on_main(acc, self._start_afresh)
        return 0

    def _clean_leftovers(self) -> None:
        """Hidden half-written folders of a killed attempt (a checkpoint, the model): never taken for
        complete ones, and deleted here (the lock is held) so they do not pile up."""
        with disk_errors(f"the run folder {self.run_dir}"):
            clean_temp_folders(self.run_dir)
            clean_temp_folders(self.run_dir / "checkpoints")

    def _start_afresh(self) -> None:
        self._clean_leftovers()
        with disk_errors(f"the run folder {self.run_dir}"):
            self.log_path.unlink(missing_ok=True)
            for name in ("curve.jsonl", "best.json"):
                (self.run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(self.run_dir / "best", ignore_errors=True)
            shutil.rmtree(self.run_dir / "streams", ignore_errors=True)
            write_fingerprint(self.run_dir, self.fingerprint)

    # -- the loop -------------------------------------------------------------------------------
    def _refresh_streams(self, step: int) -> None:
        for stream, refresh in self.method.refreshes().items():
            k = refresh_index(step, refresh, self.per_step, self.n_primary)
            if self.refreshed.get(stream) == k:
                continue
            source = self.records[sampling_source(stream)] if sampling_source(stream) in self.records \
                else build_stream(sampling_source(stream), self.cfg, self.bench)
            records = refreshed_records(self.run_dir, self.acc, self.model, self.tokenizer, self.formatter,
                                        source, refresh, k, self.cfg.train.seed)
            self._encode(stream, records, report_cuts=False)
            self.refreshed[stream] = k

    def train(self) -> TrainResult:
        acc, t = self.acc, self.cfg.train
        self._load()
        data = self._streams()
        on_main(acc, write_run_info, self.run_dir, self.cfg, self.bench.data_hashes(), self.method.name)
        self._prepare()
        start = self._resume()
        acc.wait_for_everyone()
        runner = StepRunner(acc, self.model, self.method, data, self.reference, self.trainable, t.max_grad_norm)
        for transform in self.method.transforms:
            transform.start(self.total_steps)
        self.refreshed: dict[str, int] = {}
        self.model.train()
        progress = Progress(self.total_steps, self.method.name, every_s=t.progress_every,
                            enabled=acc.is_main_process, initial=start)
        started = time.time()
        try:
            for step in range(start, self.total_steps):
                self._refresh_streams(step)
                self._one_step(runner, step, started, progress)
        finally:
            progress.close()
        self._finish(start, started)
        return TrainResult(self.run_dir / "model", self.total_steps, start)

    def _one_step(self, runner: StepRunner, step: int, started: float, progress: Progress) -> None:
        acc, t = self.acc, self.cfg.train
        try:
            logged = runner.run(step)
        except TrainingDiverged as err:
            self._diverged(step, str(err))
        norm = runner.grad_norm()
        if norm is not None:
            if not finite_everywhere(acc, torch.tensor(norm)):
                self._diverged(step, f"the gradient norm became {norm} at step {step + 1} (the loss was "
                                     f"{logged['loss']:.6g})")
            logged["grad_norm"] = norm
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        for transform in self.method.transforms:
            transform.after_step(self.trainable, step)
        done = step + 1
        progress.update(1, loss=logged["loss"])
        if done % t.log_every == 0 or done == self.total_steps:
            entry = {"step": done, "epoch": round(done * self.per_step / self.n_primary, 4),
                     "lr": self.scheduler.get_last_lr()[0], **{k: round(v, 6) for k, v in logged.items()},
                     "elapsed_s": round(time.time() - started, 2)}
            on_main(acc, _append_log, self.log_path, entry)
        if t.save_every and done % t.save_every == 0 and done < self.total_steps:
            finite = all(bool(torch.isfinite(p).all()) for p in self.trainable)
            if not finite_everywhere(acc, torch.tensor(0.0 if finite else float("nan"))):
                self._diverged(step, f"the weights became non-finite after step {done}")
            self.last_checkpoint = save_checkpoint(acc, self.run_dir, done, self.model, self.optimizer,
                                                   self.scheduler, self.method, t.keep_checkpoints)
        if self.cfg.eval.every_steps and (done % self.cfg.eval.every_steps == 0 or done == self.total_steps):
            self._evaluate_during(done)

    def _evaluate_during(self, done: int) -> None:
        """The curve point of step `done` (main process; the others wait), and best/ when the rule is met."""
        if self.during is not None:
            unwrapped = self.acc.unwrap_model(self.model)
            entry = self.during.evaluate(unwrapped, done)
            lora = self.cfg.lora

            def save(folder: Path) -> None:
                import copy

                keep = copy.deepcopy(unwrapped) if lora.r > 0 and lora.save != "adapter" else unwrapped
                save_model(model_to_save(keep, lora), self.tokenizer, folder)

            self.during.keep_if_best(entry, save)
            self.model.train()
        self.acc.wait_for_everyone()

    def _finish(self, start: int, started: float) -> None:
        """Save the model atomically, mark the run done, then remove the checkpoints."""
        acc = self.acc
        acc.wait_for_everyone()
        lora = self.cfg.lora.r > 0
        state = None if lora else acc.get_state_dict(self.model)  # gathers sharded weights
        on_main(acc, self._save_result, state, start, started)
        acc.wait_for_everyone()

    def _save_result(self, state: dict[str, torch.Tensor] | None, start: int, started: float) -> None:
        final = self.run_dir / "model"
        with disk_errors(f"the model to {final}"):
            # save_model writes a temporary folder and renames it: never a half-written model/
            save_model(model_to_save(self.acc.unwrap_model(self.model), self.cfg.lora), self.tokenizer, final,
                       state_dict=state)
            write_json(self.run_dir / DONE_FILE, {"completed": True, "steps": self.total_steps,
                                                  "resumed_from": start,
                                                  "train_seconds": round(time.time() - started, 2)})
        shutil.rmtree(self.run_dir / "checkpoints", ignore_errors=True)

    def _diverged(self, step: int, what: str) -> None:
        where = (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                 else "no checkpoint was saved yet (train.save_every)")
        if self.acc.is_main_process:
            try:
                _append_log(self.log_path, {"step": step + 1, "event": "diverged", "reason": what})
            except UnlearnError:
                pass  # the divergence is what the user must hear about
        raise TrainingDiverged(
            f"{what}; training stopped before the bad update and {where}. "
            "Lower train.lr, set train.max_grad_norm, or change the method's weights, then run again"
        )


def _append_log(log_path: Path, entry: dict[str, Any]) -> None:
    with disk_errors(str(log_path)), log_path.open("a") as f:
        f.write(json_line(entry) + "\n")


def _truncate_log(log_path: Path, step: int) -> None:
    """Drop log entries written after the checkpoint a run resumes from."""
    if not log_path.is_file():
        return
    kept = [line for line in log_path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    with disk_errors(str(log_path)):
        write_text(log_path, "".join(line + "\n" for line in kept))
