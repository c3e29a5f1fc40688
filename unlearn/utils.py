"""Small shared helpers."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where downloads and generator caches go: $UNLEARN_CACHE or ~/.cache/unlearn."""
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "unlearn"))


def files_stamp(path: str | Path) -> list[list]:
    """[name, size, mtime_ns] of the files of a folder (or of one file; [] when missing): a cheap way to
    notice that a model was rewritten at the same path. Lists, so it equals itself after a JSON round trip."""
    path = Path(path)
    files = sorted(path.iterdir()) if path.is_dir() else [path] if path.exists() else []
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]
