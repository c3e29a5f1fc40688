"""The Python API; each function is one CLI command (`unlearn finetune`, `unlearn unlearn`, ...)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from unlearn.config import MethodConfig, RunConfig, to_dict


def build_tiny_model(world_dir: str | Path, out: str | Path, *, seed: int = 0, vocab_size: int = 2048,
                     hidden_size: int = 256, layers: int = 2) -> Path:
    """A tokenizer trained on the world's text and a randomly initialised tiny Llama, saved to `out`."""
    from unlearn.data.world import world_text
    from unlearn.errors import DataError
    from unlearn.models.tiny import build_tiny_model as build

    if not (Path(world_dir) / "world.json").is_file():
        raise DataError(f"{world_dir!r} is not a synthetic world folder (no world.json); run `unlearn world` first")
    return build(world_text(world_dir), out, seed=seed, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers)


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
    from unlearn.eval.suite import evaluate

    previous = _read_metrics(Path(cfg.out) / "metrics.json") if result.skipped else None
    # Reused only when made with the same evaluation settings: never a stale result.
    if previous is not None and previous.get("eval_config") == to_dict(cfg.eval):
        return previous
    # The saved model folder holds its own tokenizer and safetensors weights (no GGUF any more).
    saved = replace(cfg.model, path=str(result.model_dir), tokenizer=None, gguf_file=None)
    return evaluate(replace(cfg, model=saved), out=cfg.out)


def _read_metrics(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def finetune(cfg: RunConfig, retain_only: bool = False) -> dict[str, Any]:
    """Fine-tune `model.path` on the benchmark's training data (all of it: the *target* model; with
    `retain_only`, everything but the forget split: the *retain* model, the gold standard)."""
    from unlearn.data.benchmarks import load_benchmark

    cfg = replace(cfg, method=MethodConfig(name="finetune"))
    if retain_only and not cfg.data.train_splits:
        bench = load_benchmark(cfg.data.benchmark, cfg.data.path, cfg.data.forget_split)
        cfg = replace(cfg, data=replace(cfg.data, train_splits=bench.retain_train_splits()))
    return _train_and_eval(cfg)


def run_unlearning(cfg: RunConfig) -> dict[str, Any]:
    """Unlearn `cfg.data.forget_split` from `model.path` with `cfg.method`; evaluate the result."""
    from unlearn.engine.trainer import check_before_loading

    check_before_loading(cfg)  # an unknown method, option or parameter fails here, before any model loads
    return _train_and_eval(cfg)


def evaluate(cfg: RunConfig, model_path: str | None = None, out: str | None = None) -> dict[str, Any]:
    """Evaluate a model (default `model.path`) and write metrics.json / samples.jsonl to `out`."""
    from unlearn.eval.suite import evaluate as run_eval

    return run_eval(cfg, model_path=model_path, out=out)
