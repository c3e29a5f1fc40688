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

from unlearn.core.errors import DataError
from unlearn.core.files import parse_json_lines, read_utf8

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")


def read_records(path: str | Path, key: str | None = None) -> list[dict[str, Any]]:
    """Read a data file into a non-empty list of records. `.json` may hold a JSON array or JSON lines
    (TOFU's real_authors_perturbed.json is JSON lines despite its name). Plain strings become
    `{"text": string}` records. A file that is empty, not UTF-8, not a list of records, or otherwise
    malformed is a DataError naming the file (and the line or record) and the fix. `key`: the option
    that named the file (data.augmented, --forget), for the messages."""
    p = Path(path)
    named = f"{key} " if key else "data file "
    if p.is_dir():
        raise DataError(f"{named}{str(p)!r} is a folder; name a file (one of {', '.join(SUFFIXES)})")
    if not p.is_file():
        raise DataError(f"{named}{str(p)!r} does not exist; check the path")
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{p}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    text = read_utf8(p) if suffix != ".parquet" else None
    if text is not None and not text.strip():
        raise DataError(f"{p} has no records (the file is empty); put at least one record in it (or remove the file)")
    if suffix == ".txt":
        records: Any = read_text_blocks(text)
    elif suffix in (".json", ".jsonl"):
        records = _json_records(p, text)
    else:
        records = _table_records(p, text)
    if not isinstance(records, list):
        raise DataError(f"{p}: expected a list of records (objects or strings), one per sample; write a JSON "
                        "array of records or JSON lines (one record a line)")
    if not records:
        raise DataError(f"{p} has no records; put at least one record in it (or remove the file)")
    out = []
    for i, r in enumerate(records):
        if isinstance(r, str):
            r = {"text": r}
        if not isinstance(r, dict):
            raise DataError(f"{p}: record {i} is {describe_value(r)}, not an object; write each record as an object "
                            'such as {"question": "...", "answer": "..."} (or a string of text)')
        out.append(r)
    return out


def describe_value(value: Any) -> str:
    """'a number (42)', 'a list ([1, 2])': a value's JSON kind and a short view of it, for messages."""
    kind = ("true/false" if isinstance(value, bool) else "a number" if isinstance(value, (int, float))
            else "a list" if isinstance(value, (list, tuple)) else "an object" if isinstance(value, dict)
            else "null" if value is None else f"a {type(value).__name__}")
    shown = repr(value)
    return f"{kind} ({shown[:40] + '...' if len(shown) > 40 else shown})"


def _json_records(p: Path, text: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{p}: not valid JSON ({err.msg} at line {err.lineno}); fix the file") from None
    records = parse_json_lines(text, p, "fix the file (JSON lines: one record a line; or a JSON array of records)",
                               before_error=lambda: _whole_object(p, text))
    if len(records) == 1 and _wraps_records(records[0]):
        _whole_object(p, text)  # {"data": [{...}, ...]} on one line: a wrapped list, not one record
    return records


def _wraps_records(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
                                           for v in value.values())


def _whole_object(p: Path, text: str) -> None:
    """A file that is one JSON object spread over lines: say so, instead of 'line 1 is not valid JSON'."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return
    if isinstance(whole, dict):
        lists = [k for k, v in whole.items() if isinstance(v, list)]
        hint = f"; its key {lists[0]!r} holds a list: write that list alone" if lists else ""
        raise DataError(f"{p}: the top level is a JSON object, not a list of records; write a JSON array of "
                        f"records ([{{...}}, {{...}}]) or JSON lines (one record a line){hint}")


def _table_records(p: Path, text: str | None) -> list[dict[str, Any]]:
    import io

    import pandas as pd  # pandas comes with `datasets`

    try:
        if text is not None:  # CSV cells stay text as written ("1984" is not the number 1984)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        else:
            frame = pd.read_parquet(p)
    except Exception as err:  # noqa: BLE001 - any reader failure is a malformed file
        first = (str(err).strip().splitlines() or [""])[0]
        raise DataError(f"{p}: cannot be read as {p.suffix[1:].lower()} ({type(err).__name__}: {first}); "
                        "fix the file") from None
    return frame.to_dict(orient="records")


def read_text_blocks(text: str) -> list[dict[str, Any]]:
    """A plain-text corpus: one `{"text": ...}` record per block of lines between blank lines."""
    return [{"text": block.strip()} for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


def require_fields(records: Iterable[dict[str, Any]], fields: Iterable[str], source: str) -> None:
    """Raise DataError naming the first record that lacks one of `fields`, has it empty, or has
    something other than text in it."""
    fields = list(fields)
    for i, record in enumerate(records):
        for name in fields:
            value = record.get(name)
            if value is None or (isinstance(value, (str, list)) and len(value) == 0):
                present = ", ".join(sorted(map(str, record))) or "none"
                raise DataError(
                    f"{source}: record {i} has no field {name!r} (fields present: {present}); "
                    f"every record needs {', '.join(fields)}"
                )
            items = value if isinstance(value, list) else [value]  # perturbed_answer: a list of texts
            bad = next((v for v in items if not isinstance(v, str)), None)
            if bad is not None:
                raise DataError(f"{source}: record {i} field {name!r} "
                                f"{'holds' if isinstance(value, list) else 'is'} {describe_value(bad)}, not text; "
                                "write it as a string")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
