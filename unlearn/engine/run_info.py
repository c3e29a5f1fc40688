"""Self-describing run folders: resolved config, library versions, seed, data hashes."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml

from unlearn.config import RunConfig, to_dict
from unlearn.core.atomic import disk_errors, write_json, write_text

PACKAGES = ["unlearnkit", "torch", "transformers", "accelerate", "datasets", "tokenizers", "safetensors",
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
    with disk_errors(f"the run files in {out}"):
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
        _write_info(out / "run.json", cfg, data_hashes, kind)


def _write_info(info_path: Path, cfg: RunConfig, data_hashes: dict[str, str], kind: str) -> None:
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
