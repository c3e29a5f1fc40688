"""Self-describing run folders: resolved config, library versions, seed, data hashes."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from unlearn.atomic import write_json  # noqa: F401  (re-exported: used by demo, trainer, eval)
from unlearn.config import RunConfig, save_config, to_dict

PACKAGES = ["unlearn", "torch", "transformers", "accelerate", "datasets", "tokenizers", "safetensors",
            "rouge-score", "scipy", "numpy", "peft"]


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_run_info(out: str | Path, cfg: RunConfig, data_hashes: dict[str, str], kind: str) -> None:
    """config.yaml (the resolved config) and run.json (what ran, with what, on which data)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    info_path = out / "run.json"
    previous = json.loads(info_path.read_text()) if info_path.is_file() else {}
    info = {
        "kind": kind,
        "command": " ".join(sys.argv),
        "seed": cfg.train.seed,
        "started": previous.get("started", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "versions": library_versions(),
        "data_hashes": data_hashes,
        "config": to_dict(cfg),
    }
    write_json(info_path, info)
