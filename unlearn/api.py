"""The Python API; each function is one CLI command (`unlearn finetune`, `unlearn unlearn`, ...)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import unlearn.evidence.robustness  # noqa: F401  (registers the robustness suite of every evaluation)
from unlearn.config import MethodConfig, RunConfig, to_dict


def build_tiny_model(world_dir: str | Path | None = None, out: str | Path | None = None, *,
                     data: str | Path | None = None, benchmark: str | None = None, seed: int = 0, vocab_size: int = 2048, hidden_size: int = 256,
                     layers: int = 2, max_positions: int | None = None) -> Path:
    """A tokenizer trained on a benchmark's text and a randomly initialised tiny Llama, saved to `out`.

    `world_dir`: a synthetic world (`unlearn world`). Or `data` with `benchmark` (tofu, muse, custom,
    ...): the tokenizer is trained on every question, answer, paraphrase, perturbed answer and text of
    the folder's split files. `max_positions` defaults to 256 for a world and 512 (data.max_length's
    default) for other benchmarks, whose answers are longer."""
    from unlearn.core.errors import ConfigError, DataError
    from unlearn.models.tiny import build_tiny_model as build

    if out is None:
        raise ConfigError("build_tiny_model needs `out`, the folder to save the tokenizer and model in")
    _check_tiny_sizes(vocab_size, hidden_size, layers, max_positions, seed)
    if (world_dir is None) == (data is None):
        raise ConfigError("name the text to train the tokenizer on: either a world folder (--world FOLDER) or a "
                          "benchmark folder (--data PATH --benchmark NAME)")
    size = dict(seed=seed, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers)
    from unlearn.core.atomic import check_writable

    check_writable(Path(out).expanduser().absolute().parent, "the folder of --out")
    if world_dir is not None:
        from unlearn.data.world import world_text

        if not (Path(world_dir) / "world.json").is_file():
            raise DataError(f"{world_dir!r} is not a synthetic world folder (no world.json); run `unlearn world` first")
        return build(world_text(world_dir), out, max_positions=max_positions or 256, **size)
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.models.tiny import benchmark_texts

    if benchmark is None:
        if not (Path(data) / "world.json").is_file():
            raise ConfigError(f"name the benchmark of {str(data)!r} with --benchmark (tofu, muse, knowundo, wmdp, "
                              "custom, synthetic)")
        benchmark = "synthetic"
    bench = load_benchmark(benchmark, str(data), _forget_split(benchmark, Path(data)))
    return build(benchmark_texts(bench), out, max_positions=max_positions or 512, **size)


def _check_tiny_sizes(vocab_size: int, hidden_size: int, layers: int, max_positions: int | None, seed: int) -> None:
    """The tiny model's sizes, checked before any text is read (a bad size would fail deep in the
    tokenizer trainer or in transformers, or be silently changed)."""
    from unlearn.core.errors import ConfigError
    from unlearn.models.tiny import HEADS, MIN_VOCAB

    if vocab_size < MIN_VOCAB:
        raise ConfigError(f"--vocab-size {vocab_size} is below the {MIN_VOCAB} tokens a byte-level BPE tokenizer "
                          f"starts with (256 bytes and 4 special tokens); use at least {MIN_VOCAB} (default 2048)")
    if hidden_size < 2 * HEADS or hidden_size % (2 * HEADS):
        raise ConfigError(f"--hidden-size {hidden_size} must be a positive multiple of {2 * HEADS} ({HEADS} attention "
                          "heads, each of an even size for rotary positions), e.g. 64 or 256 (default)")
    if layers < 1:
        raise ConfigError(f"--layers {layers} must be at least 1")
    if max_positions is not None and max_positions < 2:
        raise ConfigError(f"--max-positions {max_positions} must be at least 2 (a prompt and an answer token)")
    if seed < 0:
        raise ConfigError(f"--seed {seed} must be at least 0")


def _forget_split(benchmark: str, folder: Path) -> str:
    """A forget split the folder has (the tokenizer reads every split; the adapter wants one named)."""
    from unlearn.config import DataConfig

    default = DataConfig().forget_split
    if benchmark in ("synthetic", "tofu") and not any(folder.glob(f"{default}.*")):
        found = sorted(p.stem for p in folder.glob("forget*.*"))
        return found[0] if found else default
    return default


def _train_and_eval(cfg: RunConfig) -> dict[str, Any]:
    from accelerate import PartialState

    from unlearn.engine import train

    result = train(cfg)
    if result.skipped and PartialState().is_main_process:
        import sys

        print(f"{cfg.out} already holds a finished run; reusing it (delete the folder to train again)",
              file=sys.stderr)
    out: dict[str, Any] = {"run_dir": cfg.out, "model_dir": str(result.model_dir), "steps": result.steps,
                           "resumed_from": result.resumed_from, "skipped": result.skipped}
    if cfg.eval.enabled and PartialState().is_main_process:
        from unlearn.engine.integrity import RunLock

        with RunLock(cfg.out):  # the folder stays one run's while its results are written
            out["metrics"] = _metrics(cfg, result)
    return out


def _metrics(cfg: RunConfig, result: Any) -> dict[str, Any]:
    """The run's metrics: reused when made with the same evaluation settings, else evaluated now."""
    from unlearn.eval.command import evaluate

    previous = _read_metrics(Path(cfg.out) / "metrics.json") if result.skipped else None
    # Reused only when made with the same evaluation settings: never a stale result.
    if previous is not None and previous.get("eval_config") == to_dict(cfg.eval):
        return previous
    # The saved model folder holds its own tokenizer and safetensors weights (no GGUF any more).
    from unlearn.models.loading import saved_model_config

    return evaluate(replace(cfg, model=saved_model_config(cfg, str(result.model_dir))), out=cfg.out)


def _read_metrics(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def finetune(cfg: RunConfig, retain_only: bool = False) -> dict[str, Any]:
    """Fine-tune `model.path` on the benchmark's training data (all of it: the *target* model; with
    `retain_only`, everything but the forget split: the *retain* model, the gold standard)."""
    from unlearn.data.benchmarks import benchmark_from_config

    cfg = replace(cfg, method=MethodConfig(name="finetune"))
    if retain_only and not cfg.data.train_splits:
        bench = benchmark_from_config(cfg.data)
        cfg = replace(cfg, data=replace(cfg.data, train_splits=bench.retain_train_splits()))
    return _train_and_eval(cfg)


def run_unlearning(cfg: RunConfig) -> dict[str, Any]:
    """Unlearn `cfg.data.forget_split` from `model.path` with `cfg.method`; evaluate the result."""
    from unlearn.engine.before import check_before_loading

    check_before_loading(cfg)  # an unknown method, option or parameter fails here, before any model loads
    return _train_and_eval(cfg)


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | None = None) -> dict[str, Any]:
    """Evaluate a model (default `model.path`) and write metrics.json / samples.jsonl to `out`."""
    from unlearn.eval.command import evaluate as run_eval

    return run_eval(cfg, model_path=model_path, out=out)
