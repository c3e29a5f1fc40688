"""Small shared helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Where downloads and generator caches go: $UNLEARN_CACHE or ~/.cache/unlearn."""
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "unlearn"))


def files_stamp(path: str | Path) -> list[list]:
    """[name, size, mtime_ns] of the files of a folder (or of one file; [] when missing): a cheap way to
    notice that a model was rewritten at the same path. Lists, so it equals itself after a JSON round trip."""
    path = Path(path)
    files = sorted(path.iterdir()) if path.is_dir() else [path] if path.exists() else []
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def read_json(path: str | Path, remake: str) -> Any:
    """A JSON file the toolkit wrote (metrics.json, sequence.json, ...). One cut short or edited by hand
    is a one-line DataError naming it and `remake`, how to write it again."""
    from unlearn.core.errors import DataError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({str(err).splitlines()[0]}); {remake}") from None


def read_json_lines(path: str | Path, remake: str) -> list[Any]:
    """The rows of a JSON lines file the toolkit wrote (samples.jsonl), each checked like read_json."""
    from unlearn.core.errors import DataError

    rows = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise DataError(f"{path}: line {lineno} is not valid JSON ({err.msg}); {remake}") from None
    return rows


def read_utf8(path: str | Path) -> str:
    """A text file's content. Bytes that are not UTF-8 are a DataError naming the file, the byte, its
    offset and line; a UTF-8 byte-order mark is skipped."""
    from unlearn.core.errors import DataError

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {p} ({err.strerror}); check that it exists and can be read") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise DataError(f"{p}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}, line {line}); "
                        "re-save the file as UTF-8") from None
