"""A finished unlearning run folder as the evidence commands read it: its config (with overrides) and
its saved model."""

from __future__ import annotations

from pathlib import Path

from unlearn.config import RunConfig
from unlearn.core.errors import ConfigError


def run_config(run: Path, overrides: list[str]) -> RunConfig:
    """The run's config.yaml with `overrides` applied; a folder that is not a finished run is a one-line
    error naming what to give instead."""
    from unlearn.config import load_config

    if not (run / "config.yaml").is_file() or not (run / "model").is_dir():
        raise ConfigError(f"{run} is not a finished run folder (config.yaml and model/); give the out= folder "
                          "of `unlearn unlearn`")
    return load_config(str(run / "config.yaml"), overrides)
