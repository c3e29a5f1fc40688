"""Small shared helpers."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where downloads and generator caches go: $UNLEARN_CACHE or ~/.cache/unlearn."""
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "unlearn"))
