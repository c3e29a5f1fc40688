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

import contextlib
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unlearn.config import RunConfig, TrainConfig
from unlearn.core.atomic import clean_temp_folders, disk_errors, json_line, write_json
from unlearn.core.cost import COST_FILE, CostMeter
from unlearn.core.errors import ConfigError, TrainingDiverged, UnlearnError
from unlearn.core.files import drop_rows_after, write_library_warnings
from unlearn.core.progress import Progress
from unlearn.core.threads import thread_record
from unlearn.data.benchmarks import Benchmark
from unlearn.data.tokenize import PromptFormatter
from unlearn.engine import sharding, tracking
from unlearn.engine.before import check_sharding, check_train, read_and_check, run_fingerprint
from unlearn.engine.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from unlearn.engine.collective import on_main
from unlearn.engine.cost import write_training_cost
from unlearn.engine.during import DuringEval, evaluation_due, truncate_curve
from unlearn.engine.integrity import (
    LOCK_FILE,
    RunLock,
    check_fingerprint,
    check_sealed,
    weights_hashes,
    write_fingerprint,
)
from unlearn.engine.lora import apply_lora, model_to_save
from unlearn.engine.reference import FrozenCopy, Reference, make_reference
from unlearn.engine.refresh import refresh_index, refreshed_records
from unlearn.engine.run_info import write_run_info
from unlearn.engine.step import StepRunner, finite_everywhere
from unlearn.engine.streams import REDRAWN_STREAMS, build_stream, redrawn, sampling_source
from unlearn.engine.training_data import TrainingData
from unlearn.methods import Method, build_method
from unlearn.methods.base import SetupContext
from unlearn.models import load_model, load_tokenizer, save_model
from unlearn.models.loading import ContextLimit, check_model_files, check_vocabulary, context_limit

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

    meter = CostMeter()
    started = time.perf_counter()
    method = method or build_method(cfg.method)
    strategy = check_train(cfg, method)
    # cpu=True without CUDA: Accelerate only sets up multi-process (gloo) CPU training when asked for cpu.
    precision = cfg.train.mixed_precision or "no"
    _release_precision(precision)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), gradient_accumulation_steps=cfg.train.grad_accum,
                              mixed_precision=precision, **tracking.accelerator_options(cfg))
    run_dir = Path(cfg.out)
    bench, records = read_and_check(cfg, method, accelerator)  # before any model loads: bad data costs nothing
    fingerprint = run_fingerprint(cfg, method, bench, accelerator.num_processes)
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
            check_sealed(run_dir, state)
            if accelerator.is_main_process:
                print(f"{cfg.out} already holds a finished run; reusing it (delete the folder to train again)",
                      file=sys.stderr)
            return TrainResult(run_dir / "model", state["steps"], state.get("resumed_from", 0), skipped=True)
        try:
            check_model_files(cfg.model)  # a missing or unsafe model: nothing loaded, nothing left behind
        except UnlearnError:
            failed_early = True
            raise
        meter.seconds["load"] += time.perf_counter() - started  # checks, data read (the model: in _Run)
        return _Run(cfg, method, strategy, accelerator, bench, fingerprint, records, meter).train()
    finally:
        if lock is not None:
            lock.release()
        if failed_early and fresh and accelerator.is_main_process:
            _remove_if_empty(run_dir)


def _release_precision(precision: str) -> None:
    """Accelerate keeps one mixed-precision setting per process; a run that asks for another (a sweep or the
    API training several runs in one process) starts its state afresh, keeping the process group."""
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != precision:
        AcceleratorState._reset_state(reset_partial_state=False)


@dataclass
class _Position:
    """The step the run starts at, and its newest good checkpoint: each save moves it on, a divergence names it."""

    start: int
    last_checkpoint: Path | None


class _Run:
    """One training run: `__init__` builds all of its state (each piece after those it needs), `train` runs
    the steps and saves the model."""

    def __init__(self, cfg: RunConfig, method: Method, strategy: str | None, accelerator: Any, bench: Benchmark,
                 fingerprint: dict[str, Any], records: dict[str, list[dict[str, Any]]], meter: CostMeter):
        # What `train` checked before any model loaded, and the run's cost so far.
        self.cfg, self.method, self.acc, self.bench, self.meter = cfg, method, accelerator, bench, meter
        self.strategy = strategy
        self.fingerprint_hash = fingerprint["hash"]
        self.run_dir = Path(cfg.out)
        self.log_path = self.run_dir / "log.jsonl"
        # The model as loaded and set up for the method (not yet on its device), with its tokenizer.
        loading = time.perf_counter()
        self.tokenizer, model, self.max_length = _load(cfg, method, accelerator)
        self.formatter = PromptFormatter(self.tokenizer, cfg.data.template, cfg.data.chat_template)
        # The evaluation every `eval.every_steps` steps: every process scores its share, the main one writes.
        self.during = DuringEval(cfg, bench, self.tokenizer, self.formatter, self.run_dir, self.max_length) \
            if cfg.eval.every_steps else None
        # The streams encoded, how their batches are drawn, how many steps they make.
        self.data = TrainingData(method.streams, records, self.formatter, self.max_length, cfg.train,
                                 accelerator.num_processes, self.tokenizer.pad_token_id, accelerator.is_main_process,
                                 cfg.data.text_chunks)
        on_main(accelerator, write_run_info, self.run_dir, cfg, bench.data_hashes(), method.name)
        # The model on its device and prepared by Accelerate, its reference, and what trains it.
        model.to(accelerator.device)  # before the reference: cached log-probs are computed here
        meter.seconds["load"] += time.perf_counter() - loading
        with meter.phase("reference") if strategy else contextlib.nullcontext():
            self.reference = make_reference(strategy, method, model, self.data.encoded, self.tokenizer.pad_token_id)
        with meter.phase("load"):
            check_sharding(accelerator, method, cfg.lora.r > 0, cfg.eval.every_steps)
            _place_reference(accelerator, self.reference, cfg.train.shard)
            self.model, self.optimizer = _accelerated(accelerator, method, model, cfg.train)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.scheduler = _scheduler(cfg.train, self.optimizer, self.data.total_steps)
        # The newest checkpoint restored into all of the above, or the folder made fresh for step 0.
        with meter.phase("load"):
            self.position = self._resume(fingerprint)

    def _resume(self, fingerprint: dict[str, Any]) -> _Position:
        acc = self.acc
        ckpts = list_checkpoints(self.run_dir)
        if ckpts:
            start = load_checkpoint(acc, ckpts[-1], self.model, self.optimizer, self.scheduler, self.method)
            if acc.is_main_process:
                acc.print(f"resuming from {ckpts[-1]} (step {start} of {self.data.total_steps})")
            on_main(acc, drop_rows_after, self.log_path, start)  # log entries after the checkpoint
            on_main(acc, _clean_leftovers, self.run_dir)
            on_main(acc, truncate_curve, self.run_dir, start)
            return _Position(start, ckpts[-1])
        on_main(acc, _start_afresh, self.run_dir, self.log_path, fingerprint)
        return _Position(0, None)

    # -- the loop -------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        self._prepare()
        tracking.start(self.acc, self.cfg)
        runner = StepRunner(self.acc, self.model, self.method, self.data.batches, self.reference, self.trainable,
                            self.cfg.train.max_grad_norm, self.meter)
        start, total = self.position.start, self.data.total_steps
        progress = Progress(total, self.method.name, every_s=self.cfg.train.progress_every,
                            enabled=self.acc.is_main_process, initial=start)
        started = time.time()
        try:
            with self.meter.phase("train"):
                for step in range(start, total):
                    self._refresh_streams(step)
                    self._one_step(runner, step, started, progress)
            # the loop's checkpoints and evaluations are phases of their own
            self.meter.seconds["train"] -= self.meter.seconds["checkpoint"] + self.meter.seconds["evaluate"]
            progress.close()
            with self.meter.phase("save"):
                self._finish(start, started)
            write_training_cost(self.acc, self.run_dir, self.meter, self._cost_info(start))
            tracking.log(self.acc, self.cfg, {"train_seconds": round(time.time() - started, 2)}, total)
        finally:
            progress.close()
            tracking.end(self.acc, self.cfg)
        return TrainResult(self.run_dir / "model", total, start)

    def _prepare(self) -> None:
        """Ready every process for the first step: all wait until the folder is resumed or fresh, the
        transforms learn the run's length (after a resume restored their state), the model trains."""
        self.acc.wait_for_everyone()
        for transform in self.method.transforms:
            transform.start(self.data.total_steps)
        self.model.train()

    def _refresh_streams(self, step: int) -> None:
        data = self.data
        if self.cfg.data.redraw:  # a new draw of the refusals / random answers each epoch (deterministic)
            epoch = math.floor(step * data.per_step / data.n_primary + 1e-9)
            for stream in (s for s in self.method.streams if s in REDRAWN_STREAMS):
                if data.refreshed.get(stream) != epoch:
                    data.refresh(stream, redrawn(stream, self.cfg, self.bench, epoch), epoch)
        for stream, refresh in self.method.refreshes().items():
            k = refresh_index(step, refresh, data.per_step, data.n_primary)
            if data.refreshed.get(stream) == k:
                continue
            source = sampling_source(stream)
            pool = data.records[source] if source in data.records else build_stream(source, self.cfg, self.bench)
            records = refreshed_records(self.run_dir, self.acc, self.model, self.tokenizer, self.formatter,
                                        pool, refresh, k, self.cfg.train.seed)
            data.refresh(stream, records, k)

    def _one_step(self, runner: StepRunner, step: int, started: float, progress: Progress) -> None:
        acc, t, total = self.acc, self.cfg.train, self.data.total_steps
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
        if done % t.log_every == 0 or done == total:
            entry = {"step": done, "epoch": round(done * self.data.per_step / self.data.n_primary, 4),
                     "lr": self.scheduler.get_last_lr()[0], **{k: round(v, 6) for k, v in logged.items()},
                     "elapsed_s": round(time.time() - started, 2)}
            on_main(acc, _append_log, self.log_path, entry)
            tracking.log(acc, self.cfg, entry, done)
        if t.save_every and done % t.save_every == 0 and done < total:
            finite = all(bool(torch.isfinite(p).all()) for p in self.trainable)
            if not finite_everywhere(acc, torch.tensor(0.0 if finite else float("nan"))):
                self._diverged(step, f"the weights became non-finite after step {done}")
            with self.meter.phase("checkpoint"):
                self.position.last_checkpoint = save_checkpoint(acc, self.run_dir, done, self.model, self.optimizer,
                                                                self.scheduler, self.method, t.keep_checkpoints)
        if evaluation_due(self.cfg.eval.every_steps or 0, done, total):
            with self.meter.phase("evaluate"):
                self._evaluate_during(done)

    def _evaluate_during(self, done: int) -> None:
        """The curve point of step `done` (every process; the main one writes it), and best/ when the rule is met."""
        if self.during is not None:
            unwrapped = self.acc.unwrap_model(self.model)
            entry = self.during.evaluate(unwrapped, done)
            tracking.log(self.acc, self.cfg, entry, done, prefix="eval/")
            lora = self.cfg.lora

            def save(folder: Path) -> None:
                import copy

                keep = copy.deepcopy(unwrapped) if lora.r > 0 and lora.save != "adapter" else unwrapped
                save_model(model_to_save(keep, lora), self.tokenizer, folder)

            self.during.keep_if_best(entry, save)
            self.model.train()
        self.acc.wait_for_everyone()

    def _cost_info(self, start: int) -> dict[str, Any]:
        return {"method": self.method.name, "steps": self.data.total_steps - start, "resumed_from": start,
                "processes": self.acc.num_processes, "device": str(self.acc.device),
                "reference": self.strategy, "lora_r": self.cfg.lora.r, "dtype": self.cfg.model.dtype,
                "mixed_precision": self.cfg.train.mixed_precision,
                "gradient_checkpointing": bool(self.cfg.train.gradient_checkpointing),
                "attention": getattr(self.acc.unwrap_model(self.model).config, "_attn_implementation", None),
                "trainable_parameters": sum(p.numel() for p in self.trainable), **thread_record()}

    def _finish(self, start: int, started: float) -> None:
        """Save the model atomically, mark the run done, then remove the checkpoints."""
        acc = self.acc
        acc.wait_for_everyone()
        lora = self.cfg.lora.r > 0
        if sharding.is_sharded(self.model):  # every process takes part in the gathering
            state = sharding.full_model_state(self.model)
        else:
            state = None if lora else acc.get_state_dict(self.model)  # gathers sharded weights
        on_main(acc, self._save_result, state, start, started)
        acc.wait_for_everyone()

    def _save_result(self, state: dict[str, torch.Tensor] | None, start: int, started: float) -> None:
        final = self.run_dir / "model"
        unwrapped = self.acc.unwrap_model(self.model)
        if sharding.is_sharded(unwrapped) and self.cfg.lora.r > 0:
            unwrapped, state = self._whole_lora_model(state), None  # merged on a whole copy
        with disk_errors(f"the model to {final}"):
            # save_model writes a temporary folder and renames it: never a half-written model/
            save_model(model_to_save(unwrapped, self.cfg.lora), self.tokenizer, final, state_dict=state)
            write_json(self.run_dir / DONE_FILE, {"completed": True, "steps": self.data.total_steps,
                                                  "resumed_from": start,
                                                  "train_seconds": round(time.time() - started, 2),
                                                  "fingerprint_hash": self.fingerprint_hash,
                                                  "weights": weights_hashes(final)})
        shutil.rmtree(self.run_dir / "checkpoints", ignore_errors=True)
        write_library_warnings(self.run_dir)

    def _whole_lora_model(self, state: dict[str, torch.Tensor]) -> torch.nn.Module:
        """A sharded LoRA run's result as one whole peft model (main process): the base loaded again, the
        adapter added and the gathered weights put in, ready to merge and save."""
        model = apply_lora(load_model(self.cfg.model), self.cfg.lora, self.cfg.train.seed)
        missing, unexpected = model.load_state_dict(state, strict=False)
        tied = ({n for n, _ in model.named_parameters(remove_duplicate=False)}
                - {n for n, _ in model.named_parameters()})  # the head sharing the embeddings: given once
        if unexpected or set(missing) - tied:
            raise UnlearnError(f"the gathered weights do not fit the model (missing {sorted(set(missing) - tied)[:3]}, "
                               f"unexpected {sorted(unexpected)[:3]}); this is a bug, please report it")
        return model

    def _diverged(self, step: int, what: str) -> None:
        last = self.position.last_checkpoint
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was saved yet (train.save_every)"
        if self.acc.is_main_process:
            try:
                _append_log(self.log_path, {"step": step + 1, "event": "diverged", "reason": what})
            except UnlearnError:
                pass  # the divergence is what the user must hear about
        raise TrainingDiverged(
            f"{what}; training stopped before the bad update and {where}. "
            "Lower train.lr, set train.max_grad_norm, or change the method's weights, then run again"
        )


# -- building the run's state, in the order _Run.__init__ calls these -----------------------------
def _load(cfg: RunConfig, method: Method, acc: Any) -> tuple[Any, torch.nn.Module, ContextLimit]:
    """The tokenizer; the model, wrapped with LoRA when asked for and set up by the method's terms;
    the samples' length limit the model allows."""
    from accelerate.utils import set_seed

    set_seed(cfg.train.seed)  # dropout (e.g. LoRA's) and anything else drawing from the global RNGs
    with acc.main_process_first():  # a hub download happens once, on the main process
        tokenizer = load_tokenizer(cfg.model)
        model = load_model(cfg.model)
    check_vocabulary(model, tokenizer, cfg.model)
    limit = context_limit(model, cfg.data.max_length)
    if cfg.train.gradient_checkpointing:
        # non-reentrant: works when the inputs carry no gradient (LoRA) and with the forward hooks RMU sets
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.lora.r > 0:
        model = apply_lora(model, cfg.lora, cfg.train.seed)
    _set_up_terms(method, model, cfg.train.seed)
    return tokenizer, model, limit


def _set_up_terms(method: Method, model: torch.nn.Module, seed: int) -> None:
    """Each term sets itself up (e.g. RMU chooses its modules and draws its direction); when terms name
    modules, only their parameters keep training."""
    ctx = SetupContext(model, seed)
    for t in method.terms:
        t.term.setup(ctx)
    if ctx.trainable_patterns is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(p.requires_grad and any(pat in name for pat in ctx.trainable_patterns))
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"method {method.name}: no parameter is left to train "
                          f"(modules {ctx.trainable_patterns}); check the method's module parameters")


def _place_reference(acc: Any, reference: Reference | None, shard: str | None = None) -> None:
    """A frozen copy of the model goes where the model goes: sharded like it, or onto its device."""
    from accelerate.utils import DistributedType

    sharded = acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
    if isinstance(reference, FrozenCopy):
        ref = reference.model.to(acc.device)
        if shard == "fsdp2":
            ref = sharding.shard(ref)
        reference.model = acc.prepare_model(ref, evaluation_mode=True) if sharded else ref


def _accelerated(acc: Any, method: Method, model: torch.nn.Module, t: TrainConfig) -> tuple[torch.nn.Module, Any]:
    """The model as Accelerate prepares it (DDP, FSDP or DeepSpeed), and AdamW over the parameters that train."""
    from accelerate.utils import DistributedType

    if t.shard == "fsdp2":  # not Accelerate's wrapping (DDP): FSDP2 reduces the gradients itself
        model = sharding.shard(model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        return model, acc.prepare(torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay))
    if acc.distributed_type == DistributedType.DEEPSPEED:
        if method.transforms:
            raise ConfigError(f"method {method.name}: gradient transforms need the gradients between "
                              "backward and the optimizer step, which DeepSpeed's engine does not expose; "
                              "run it with DDP or FSDP")
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
        return acc.prepare(model, optimizer)
    # FSDP and DDP: the optimizer is built on the prepared model's parameters
    model = acc.prepare(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return model, acc.prepare(torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay))


def _scheduler(t: TrainConfig, optimizer: Any, total_steps: int) -> Any:
    from transformers import get_scheduler

    warmup = t.warmup_steps if t.warmup_steps is not None else int(t.warmup_ratio * total_steps)
    try:
        return get_scheduler(t.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
    except ValueError as err:
        raise ConfigError(f"train.scheduler {t.scheduler!r}: {err}".splitlines()[0]) from None


# -- the run folder ------------------------------------------------------------------------------
def _clean_leftovers(run_dir: Path) -> None:
    """Hidden half-written folders of a killed attempt (a checkpoint, the model): never taken for
    complete ones, and deleted here (the lock is held) so they do not pile up."""
    with disk_errors(f"the run folder {run_dir}"):
        clean_temp_folders(run_dir)
        clean_temp_folders(run_dir / "checkpoints")


def _start_afresh(run_dir: Path, log_path: Path, fingerprint: dict[str, Any]) -> None:
    _clean_leftovers(run_dir)
    with disk_errors(f"the run folder {run_dir}"):
        log_path.unlink(missing_ok=True)
        for name in ("curve.jsonl", "best.json", COST_FILE):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "best", ignore_errors=True)
        shutil.rmtree(run_dir / "streams", ignore_errors=True)
        write_fingerprint(run_dir, fingerprint)


def _append_log(log_path: Path, entry: dict[str, Any]) -> None:
    with disk_errors(str(log_path)), log_path.open("a") as f:
        f.write(json_line(entry) + "\n")
