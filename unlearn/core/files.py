"""Small shared helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable


def cache_dir() -> Path:
    """Where downloads and generator caches go: $UNLEARN_CACHE or ~/.cache/unlearn."""
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "unlearn"))


def files_stamp(path: str | Path) -> list[list]:
    """[name, size, mtime_ns] of the files of a folder (or of one file; [] when missing): a cheap way to
    notice that a model was rewritten at the same path. Lists, so it equals itself after a JSON round trip.
    Hidden files (a run folder's .lock, touched whenever the run is opened) are not content: left out."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if not p.name.startswith(".")) if path.is_dir() \
        else [path] if path.exists() else []
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def read_json(path: str | Path, remake: str) -> Any:
    """A JSON file the toolkit wrote (metrics.json, sequence.json, ...). One cut short or edited by hand
    is a one-line DataError naming it and `remake`, how to write it again."""
    from unlearn.core.errors import DataError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({str(err).splitlines()[0]}); {remake}") from None


def write_library_warnings(folder: str | Path) -> None:
    """Append the library warnings kept since the last call (core.errors.LIBRARY_WARNINGS) to
    FOLDER/library_warnings.log, each once, and forget them."""
    from unlearn.core.atomic import disk_errors
    from unlearn.core.errors import LIBRARY_WARNINGS

    if not LIBRARY_WARNINGS:
        return
    lines = list(dict.fromkeys(LIBRARY_WARNINGS))
    LIBRARY_WARNINGS.clear()
    path = Path(folder) / "library_warnings.log"
    with disk_errors(str(path)), path.open("a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def parse_json_lines(text: str, where: str | Path, fix: str, skip_invalid: bool = False,
                     before_error: Callable[[], None] | None = None) -> list[Any]:
    """The values of a JSON-lines text, blank lines skipped: the one JSON-lines reader. A line that is not
    JSON is a one-line DataError naming `where`, the line and `fix` (`before_error` may raise a more
    telling one first), or, with `skip_invalid`, is left out (a line torn by a kill mid-write)."""
    from unlearn.core.errors import DataError

    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as err:
            if skip_invalid:
                continue
            if before_error is not None:
                before_error()
            raise DataError(f"{where}: line {lineno} is not valid JSON ({err.msg}); {fix}") from None
    return rows


def read_json_lines(path: str | Path, remake: str) -> list[Any]:
    """The rows of a JSON lines file the toolkit wrote (samples.jsonl), each checked like read_json."""
    return parse_json_lines(Path(path).read_text(encoding="utf-8", errors="replace"), path, remake)


def drop_rows_after(path: Path, step: int) -> None:
    """On a resume: keep the rows of a JSON-lines log (log.jsonl, curve.jsonl) written up to `step`."""
    from unlearn.core.atomic import disk_errors, write_text

    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = parse_json_lines("\n".join(lines), path, "delete it to start the log afresh")
    kept = [line for line, row in zip(lines, rows) if row.get("step", 0) <= step]  # the lines as written
    with disk_errors(str(path)):
        write_text(path, "".join(line + "\n" for line in kept))


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


def text_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped (a refusal or a question a line)."""
    return [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
