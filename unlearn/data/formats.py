"""Reading data files: JSON arrays, JSON lines, CSV, Parquet and plain text.

Every loader returns a list of dicts and checks the fields the caller needs, so a malformed file is
a :class:`DataError` that names the file, the row and the missing field, not a KeyError later on.
Corpora may be plain strings: a JSON array of strings (MUSE's raw corpora) gives one `{"text": ...}`
record per string, and a `.txt` file gives one `{"text": ...}` record per block of text between
blank lines.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable

from unlearn.errors import DataError

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a data file into a list of records. `.json` may hold a JSON array or JSON lines
    (TOFU's real_authors_perturbed.json is JSON lines despite its name). Plain strings become
    `{"text": string}` records."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".txt":
        return read_text_blocks(p)
    if suffix in (".json", ".jsonl"):
        text = p.read_text(encoding="utf-8")
        stripped = text.lstrip()
        if stripped.startswith("["):
            try:
                records = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"{p}: not valid JSON ({err.msg} at line {err.lineno}); fix the file") from None
        else:
            records = []
            for lineno, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{p}: line {lineno} is not valid JSON ({err.msg}); fix the file") from None
    elif suffix in (".csv", ".parquet"):
        import pandas as pd  # pandas comes with `datasets`

        try:
            frame = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
        except Exception as err:  # noqa: BLE001 - any reader failure is a malformed file
            raise DataError(f"{p}: cannot be read as {suffix[1:]} ({type(err).__name__}: {err})") from None
        records = frame.to_dict(orient="records")
    else:
        raise DataError(f"{p}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    if isinstance(records, list):
        records = [{"text": r} if isinstance(r, str) else r for r in records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{p}: expected a list of records (objects or strings), one per sample")
    return records


def read_text_blocks(path: Path) -> list[dict[str, Any]]:
    """A plain-text corpus: one `{"text": ...}` record per block of lines between blank lines."""
    text = path.read_text(encoding="utf-8")
    return [{"text": block.strip()} for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


def require_fields(records: Iterable[dict[str, Any]], fields: Iterable[str], source: str) -> None:
    """Raise DataError naming the first record that lacks one of `fields` (or has it empty)."""
    fields = list(fields)
    for i, record in enumerate(records):
        for name in fields:
            value = record.get(name)
            if value is None or (isinstance(value, (str, list)) and len(value) == 0):
                present = ", ".join(sorted(record)) or "none"
                raise DataError(
                    f"{source}: record {i} has no field {name!r} (fields present: {present}); "
                    f"every record needs {', '.join(fields)}"
                )


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
