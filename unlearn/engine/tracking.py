"""Experiment tracking through Accelerate's trackers (`train.report_to`: tensorboard, wandb, mlflow, ...).

Off by default. A tracker gets what log.jsonl gets (the loss, every term's global-batch mean, the
gradient norm, the learning rate, the epoch), the evaluation during training as `eval/<key>`, and the
run's time at the end, each at its optimizer step. TensorBoard writes into the run folder's trackers/;
the others go where their own settings send them (wandb's project, mlflow's tracking URI, ...). Every
process calls these; Accelerate logs from the main one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from unlearn.config import RunConfig, to_dict
from unlearn.core.errors import ConfigError


def check_trackers(names: list[str]) -> None:
    """Each tracker's package is installed, before any model loads."""
    import accelerate.utils

    for name in names:
        available = getattr(accelerate.utils, f"is_{name}_available", None)
        if available is not None and not available():
            raise ConfigError(f"train.report_to: {name} is not installed; pip install {name}, or drop it from "
                              "train.report_to")


def accelerator_options(cfg: RunConfig) -> dict[str, Any]:
    """The Accelerator's tracker options: none without train.report_to."""
    if not cfg.train.report_to:
        return {}
    from accelerate.utils import ProjectConfiguration

    run_dir = Path(cfg.out)
    return {"log_with": list(cfg.train.report_to),
            "project_config": ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "trackers"))}


def start(accelerator: Any, cfg: RunConfig) -> None:
    """Open the trackers with the run's resolved config (flattened to scalars, as trackers want)."""
    if cfg.train.report_to:
        accelerator.init_trackers(Path(cfg.out).name or "unlearn", config=_flat(to_dict(cfg)))


def log(accelerator: Any, cfg: RunConfig, values: dict[str, Any], step: int, prefix: str = "") -> None:
    """The finite numbers of `values` at `step` (a null metric or a text is left out)."""
    if not cfg.train.report_to:
        return
    numbers = {prefix + k: float(v) for k, v in values.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    if numbers:
        accelerator.log(numbers, step=step)


def end(accelerator: Any, cfg: RunConfig) -> None:
    if cfg.train.report_to:
        accelerator.end_training()


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1e-4}} -> {"train.lr": 1e-4}; lists and None as text (trackers take scalars)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out
