"""What is checked before training, so that a mistake costs seconds and nothing is loaded or written:
the config (ranges, template, scheduler, transforms, LoRA, the reference strategy), every training
stream's rows (read and checked: repeats, forget questions in the retain data), and the evaluation
that follows training (its suites, metrics and data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unlearn.config import RunConfig, validate
from unlearn.core.errors import ConfigError
from unlearn.data.benchmarks import Benchmark, benchmark_from_config
from unlearn.data.checks import check_streams
from unlearn.engine.collective import on_main
from unlearn.engine.lora import check_lora
from unlearn.engine.streams import REDRAWN_STREAMS, build_stream, taught_splits
from unlearn.engine.tracking import check_trackers
from unlearn.methods import Method, build_method
from unlearn.methods.reference import choose_strategy


def check_train(cfg: RunConfig, method: Method) -> str | None:
    """Everything checkable before a model is loaded; returns the reference strategy."""
    validate(cfg)  # ranges, template, columns: configs built in Python skip load_config's checks
    from transformers import SchedulerType

    schedulers = [s.value for s in SchedulerType]
    if cfg.train.scheduler not in schedulers:
        raise ConfigError(f"train.scheduler {cfg.train.scheduler!r} is unknown; valid: {', '.join(schedulers)}")
    if len(method.transforms) > 1:
        raise ConfigError(f"method {method.name}: one gradient transform at a time is supported")
    check_lora(cfg.lora)
    check_memory_levers(cfg)
    if cfg.train.shard == "fsdp2":
        from unlearn.engine.sharding import check_fsdp2

        check_fsdp2(method.name, bool(method.transforms), cfg.eval.every_steps)
    check_trackers(cfg.train.report_to)
    strategy = method.reference if cfg.method.reference == "auto" else cfg.method.reference
    redraws = cfg.data.redraw and any(s in REDRAWN_STREAMS and method.needs(s).ref_logps for s in method.streams)
    return choose_strategy(strategy, method, cfg.lora.r > 0, redraws)


def check_memory_levers(cfg: RunConfig) -> None:
    """Mixed precision and a quantised base: combinations that cannot train as asked, before anything loads."""
    import torch

    from unlearn.models.loading import check_model_options

    check_model_options(cfg.model)  # this machine first: a CUDA-only option fails with its own reason

    precision = cfg.train.mixed_precision
    if precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision=fp16 needs a CUDA GPU (CPU autocast computes in bf16); use "
                          "train.mixed_precision=bf16")
    if precision and cfg.model.dtype != "float32":
        raise ConfigError(f"train.mixed_precision={precision} keeps float32 master weights: load the model in "
                          f"float32 (model.dtype=float32, not {cfg.model.dtype}), or drop train.mixed_precision to "
                          f"train pure {cfg.model.dtype} weights")
    quantised = "load_in_4bit" if cfg.model.load_in_4bit else "load_in_8bit" if cfg.model.load_in_8bit else None
    if quantised and cfg.lora.r <= 0:
        raise ConfigError(f"model.{quantised}: a quantised base cannot be trained itself; train LoRA on it "
                          "(lora.r=16 lora.save=adapter)")
    if quantised and cfg.lora.save != "adapter":
        raise ConfigError(f"model.{quantised}: the merged model would be quantised weights plus the adapter; save "
                          "the adapter (lora.save=adapter) and merge it into the full-precision base afterwards")


def check_sharding(acc: Any, method: Method, lora: bool, cfg_every: int | None = None) -> None:
    """Combinations whose code path would act on one process's shard instead of the whole model."""
    from accelerate.utils import DistributedType

    fsdp = acc.distributed_type == DistributedType.FSDP
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    zero3 = acc.distributed_type == DistributedType.DEEPSPEED and getattr(plugin, "zero_stage", 0) == 3
    if (fsdp or zero3) and lora:
        raise ConfigError("LoRA with FSDP or DeepSpeed ZeRO-3 is not supported yet (the adapter-disabled reference "
                          "and the merged save need the whole model); use DDP or ZeRO-1/2")
    if (fsdp or zero3) and cfg_every:
        raise ConfigError("eval.every_steps evaluates the whole model on the main process: not under FSDP or "
                          "DeepSpeed ZeRO-3 (sharded weights); evaluate the saved checkpoints instead")
    if fsdp and method.transforms:
        raise ConfigError(f"method {method.name}: gradient transforms under FSDP would see one shard's gradient; "
                          "use DDP")


def check_before_loading(cfg: RunConfig) -> Method:
    """Build the method and check the training options; raises a one-line ConfigError."""
    method = build_method(cfg.method)
    check_train(cfg, method)
    return method


def _stream_splits(cfg: RunConfig, bench: Benchmark, streams: Any) -> dict[str, str]:
    """Which split each checked stream was read from, for messages."""
    names = {}
    if "forget" in streams:
        names["forget"] = f"split {bench.forget_split}"
    if "retain" in streams:
        names["retain"] = f"split {cfg.data.retain_split or bench.retain_split}"
    if "train" in streams:
        names["train"] = "splits " + ", ".join(taught_splits(cfg, bench))
    return names


def target_file_hashes(cfg: RunConfig) -> dict[str, str]:
    """Hashes of the files of new targets a run reads (data.augmented, alternatives, targets, refusals):
    a file regenerated at the same path is another run, never a reused one."""
    from unlearn.data.formats import file_sha256

    files = {k: getattr(cfg.data, k) for k in ("augmented", "alternatives", "targets", "refusals")}
    return {f"data.{k}": file_sha256(Path(v)) for k, v in files.items() if v and Path(v).is_file()}


def run_fingerprint(cfg: RunConfig, method: Method, bench: Benchmark, processes: int) -> dict:
    """The fingerprint a training run of `cfg` records in its fingerprint.json (what decides whether a
    finished run or a checkpoint in its folder is this config's)."""
    from unlearn.config import to_dict
    from unlearn.engine.integrity import training_fingerprint

    # The splits a fine-tuning run is taught come from the benchmark when data.train_splits is unset:
    # recorded, so that a target taught other splits (another version's choice) is never reused as this one.
    taught = {"train_splits_taught": taught_splits(cfg, bench)} if "train" in method.streams else {}
    return training_fingerprint({**to_dict(cfg), "method_resolved": method.resolved(), **taught},
                                {**bench.data_hashes(), **target_file_hashes(cfg)}, processes)


def planned_fingerprint(cfg: RunConfig, processes: int = 1) -> dict:
    """The fingerprint a run of `cfg` on `processes` processes would record, worked out without training
    (the method built, the benchmark read): a caller keeping a run's results after its weights are gone
    (a sweep's archived cell) checks them against it."""
    return run_fingerprint(cfg, build_method(cfg.method), benchmark_from_config(cfg.data), processes)


def read_and_check(cfg: RunConfig, method: Method, accelerator: Any) -> tuple[Benchmark, dict[str, list[dict]]]:
    """The benchmark and every stream's rows, read and checked before any model loads. Checks run on
    the main process (on_main): an error reaches every process, a warning is printed once."""
    with accelerator.main_process_first():  # a hub download happens once, on the main process
        bench = benchmark_from_config(cfg.data)
        records = {stream: build_stream(stream, cfg, bench) for stream in method.streams}
    on_main(accelerator, check_streams, records, cfg.data.overlap, _stream_splits(cfg, bench, records))
    if cfg.eval.enabled:  # the evaluation after training: its suites, metrics and data
        from unlearn.eval.command import check_eval_request

        on_main(accelerator, check_eval_request, cfg, bench)
    return bench, records
