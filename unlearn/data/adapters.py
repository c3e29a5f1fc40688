"""One internal format for every benchmark's data, for training and evaluation alike (SPEC section 8).

Each adapter (unlearn.data.benchmarks) reads its files into *canonical records*, dicts with some of:

* `question`, `answer`, optional `paraphrased_answer`, `perturbed_answer` (always a list) and
  `paraphrased_question` (TOFU's rephrased question): kind "qa";
* `question` (a text prefix) and `answer` (its true continuation): kind "completion", scored raw;
* `text`: kind "text" (corpora, MUSE's privleak sets), scored raw;
* `question`, `choices` (list) and `label` (index of the right choice): kind "choice" (WMDP-style).

This module holds what every adapter shares: the :class:`EvalData` an evaluation set is handed over in,
split slicing (`forget10[:50%]`, `retain[100:200]`), column mapping (`data.columns`), the checks that
turn a malformed file into a one-line :class:`DataError` naming the file, the row and the fix, and the
conversion of text/completion records into raw training records.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from unlearn.config import CANONICAL_FIELDS
from unlearn.core.errors import DataError

KINDS = ("qa", "completion", "text", "choice")

# kind -> (required canonical fields, optional canonical fields)
KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "qa": (("question", "answer"), ("paraphrased_answer", "perturbed_answer", "paraphrased_question")),
    "completion": (("question", "answer"), ()),
    "text": (("text",), ()),
    "choice": (("question", "choices", "label"), ()),
}


@dataclass
class EvalData:
    """One evaluation set in canonical records, already sliced.

    role: "forget", "retain", "general" or "holdout"; kind: "qa" (formatted with the prompt or chat
    template), "completion" and "text" (scored raw, no template) or "choice".
    alternatives: every record carries perturbed answers (and a paraphrased answer, except on
    "general" sets), so TOFU's truth ratio is defined.
    """

    name: str
    role: str
    kind: str
    records: list[dict[str, Any]]
    source: str
    alternatives: bool = False

    def data_hash(self) -> str:
        """sha256 of the canonical records: part of the evaluation cache key."""
        blob = json.dumps(self.records, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# -- split slicing ---------------------------------------------------------------------------------
_SPLIT = re.compile(r"^(?P<name>[^\[\]]+?)\s*(?:\[(?P<body>[^\[\]]*)\])?$")
_BOUND = re.compile(r"^\s*(?P<num>[+-]?\d+(?:\.\d+)?)\s*(?P<pct>%?)\s*$")
SLICE_FIX = "write it as NAME[START:END] with integers or percentages, e.g. forget10[:50%] or retain[100:200]"


def parse_split(spec: str) -> tuple[str, str]:
    """`"forget10[:50%]"` -> `("forget10", "[:50%]")`; no slice -> `(spec, "")`."""
    m = _SPLIT.match(spec.strip())
    if not m or ("[" in spec and m.group("body") is None):
        raise DataError(f"malformed split {spec!r}; {SLICE_FIX}")
    body = m.group("body")
    if body is not None:
        _slice_parts(body, spec)  # validate now, before any file is read
    return m.group("name"), ("" if body is None else f"[{body}]")


def _slice_parts(body: str, spec: str) -> tuple[str, str]:
    parts = body.split(":")
    if len(parts) != 2:
        raise DataError(f"malformed split {spec!r} (one ':' needed, steps are not supported); {SLICE_FIX}")
    for part in parts:
        if part.strip() and not _BOUND.match(part):
            raise DataError(f"malformed split {spec!r} (bound {part.strip()!r} is not a number); {SLICE_FIX}")
        m = _BOUND.match(part)
        if m and m.group("pct") and not 0 <= float(m.group("num")) <= 100:
            raise DataError(f"malformed split {spec!r} (percentage {part.strip()} is outside 0-100%); {SLICE_FIX}")
        if m and not m.group("pct") and "." in m.group("num"):
            raise DataError(f"malformed split {spec!r} (row bound {part.strip()} is not an integer); {SLICE_FIX}")
    return parts[0], parts[1]


def _bound(part: str, n: int) -> int | None:
    m = _BOUND.match(part)
    if m is None:
        return None
    value = float(m.group("num"))
    if m.group("pct"):
        return math.floor(n * value / 100 + 0.5)  # nearest row, halves rounded up
    return int(value)


def slice_range(slice_text: str, n: int, spec: str = "") -> range:
    """The rows `[START:END]` selects out of n (Python semantics; percentages of n, rounded to the
    nearest row). An empty slice text selects every row."""
    if not slice_text:
        return range(n)
    start, stop = _slice_parts(slice_text[1:-1], spec or slice_text)
    return range(n)[slice(_bound(start, n), _bound(stop, n))]


def apply_slice(records: list[dict[str, Any]], slice_text: str, spec: str = "") -> tuple[list[dict[str, Any]], int]:
    """(the sliced records, the file row of the first one)."""
    rows = slice_range(slice_text, len(records), spec)
    return records[rows.start:rows.stop], rows.start


# -- canonical records -----------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):  # an empty CSV / Parquet cell
        return True
    return isinstance(value, str) and not value.strip()


def _as_list(value: Any) -> Any:
    """Lists arrive as lists (JSON), arrays (Parquet), or as text in a CSV cell: JSON (`["a", "b"]`) or
    the Python form pandas writes (`['a', 'b']`), read as a literal, never run."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            import ast

            try:
                parsed = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                return value
        return parsed if isinstance(parsed, list) else value
    return value


def _fix(field: str, column: str, mapped: bool, settable: bool = True) -> str:
    if not settable:  # the benchmark reads its own fixed layout: data.columns would be ignored
        return (f"this benchmark's files have a {column!r} column; fix the file, or read it as your own data "
                f"with data.benchmark=custom data.columns.{field}=COLUMN")
    if mapped:
        return f"fix data.columns.{field}={column} to name your file's {field} column"
    return f"name your file's {field} column with data.columns.{field}=COLUMN"


def _row_error(source: str, row: int, record: dict[str, Any], field: str, column: str, mapped: bool,
               settable: bool = True) -> DataError:
    present = ", ".join(sorted(map(str, record))) or "none"
    return DataError(f"{source}: row {row} has no column {column!r} for field {field!r} "
                     f"(columns: {present}); {_fix(field, column, mapped, settable)}")


def detect_kind(record: dict[str, Any], columns: dict[str, str], source: str) -> str:
    """qa when the first row has question and answer columns, text when it has a text column."""
    col = {f: columns.get(f, f) for f in CANONICAL_FIELDS}
    if not _missing(record.get(col["question"])) and not _missing(record.get(col["answer"])):
        return "qa"
    if not _missing(record.get(col["text"])):
        return "text"
    present = ", ".join(sorted(map(str, record))) or "none"
    raise DataError(f"{source}: row 0 has neither question/answer columns ({col['question']!r}, {col['answer']!r}) "
                    f"nor a text column ({col['text']!r}) (columns: {present}); set data.columns.question=..., "
                    "data.columns.answer=... (or data.columns.text=... for plain text)")


def canonical_records(rows: list[dict[str, Any]], kind: str, source: str,
                      columns: dict[str, str] | None = None, start_row: int = 0,
                      columns_settable: bool = True) -> list[dict[str, Any]]:
    """Rename the file's columns to canonical fields (`columns`: canonical field -> file column), keep
    only canonical fields, convert values (perturbed answers to a list, choice labels to int) and check
    them: a missing or malformed value is a DataError naming the file, the row and the fix
    (`columns_settable`: whether data.columns applies to this benchmark, so the fix can say it)."""
    columns = columns or {}
    required, optional = KIND_FIELDS[kind]
    out = []
    for i, row in enumerate(rows, start_row):
        record: dict[str, Any] = {}
        for field in (*required, *optional):
            column = columns.get(field, field)
            value = row.get(column)
            if _missing(value):
                if kind == "completion" and field == "question" and value == "":
                    record[field] = ""  # an empty prefix: the whole continuation is scored
                elif field in required and column in row:
                    raise DataError(f"{source}: row {i} field {field!r} (column {column!r}) is empty; give every "
                                    f"record {'an' if field[0] in 'aeiou' else 'a'} {field}, or remove the row")
                elif field in required:
                    raise _row_error(source, i, row, field, column, field in columns, columns_settable)
                continue
            record[field] = _convert(field, value, source, i, column)
        if kind == "choice":
            _check_label(record, source, i)
        out.append(record)
    return out


def _text(value: Any, where: str, fix: str) -> str:
    """`value` if it is text; anything else (a number, a list, true/false, an object) is a DataError:
    printing it would silently train on its Python form."""
    if isinstance(value, str):
        return value
    from unlearn.data.formats import describe_value

    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # numpy scalars and arrays from Parquet
    raise DataError(f"{where} is {describe_value(value)}, not text; {fix}")


def _convert(field: str, value: Any, source: str, row: int, column: str) -> Any:
    where = f"{source}: row {row} field {field!r} (column {column!r})"
    if field == "perturbed_answer":
        value = _as_list(value)
        items = value if isinstance(value, list) else [value]  # a single wrong answer: wrap it
        return [_text(v, f"{where} item {k}", 'write each wrong answer as a string, e.g. ["Paris", "Rome"]')
                for k, v in enumerate(items) if not _missing(v)]
    if field == "choices":
        value = _as_list(value)
        if not isinstance(value, list) or len(value) < 2:
            raise DataError(f"{source}: row {row} column {column!r} is not a list of at least 2 choices; "
                            "write the choices as a list, e.g. [\"A\", \"B\", \"C\", \"D\"]")
        return [_text(v, f"{where} item {k}", 'write each choice as a string, e.g. ["4", "5"]')
                for k, v in enumerate(value)]
    if field == "label":
        return _label(value, source, row, column)
    fix = ('write it as a string, e.g. "42"' if isinstance(value, (int, float)) and not isinstance(value, bool)
           else "give one text" + (" (perturbed_answer is the field that takes a list)" if field == "answer" else ""))
    return _text(value, where, fix)


def _label(value: Any, source: str, row: int, column: str) -> int:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        value = None
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        v = value.strip()
        if v.lstrip("-").isdigit():
            value = int(v)
        else:  # a letter: A is the first choice
            value = ord(v.upper()) - ord("A") if len(v) == 1 and v.isascii() and v.isalpha() else None
    if not isinstance(value, int):
        raise DataError(f"{source}: row {row} column {column!r} is not a choice index; "
                        "give the right choice's index (0 for the first) or letter (A for the first)")
    return value


def _check_label(record: dict[str, Any], source: str, row: int) -> None:
    n = len(record["choices"])
    if not 0 <= record["label"] < n:
        raise DataError(f"{source}: row {row} has label {record['label']} but {n} choices; "
                        f"the label must be the right choice's index, 0 to {n - 1}")


def check_perturbed_counts(records: list[dict[str, Any]], source: str, start_row: int = 0) -> None:
    """Within one evaluation set every record must have the same number of perturbed answers
    (TOFU's truth ratio averages over them); a record without any counts as 0."""
    if not records:
        return
    first = len(records[0].get("perturbed_answer", []))
    for i, r in enumerate(records):
        count = len(r.get("perturbed_answer", []))
        if count != first:
            raise DataError(f"{source}: row {start_row + i} has {count} perturbed answers but row {start_row} "
                            f"has {first}; give every record of the set the same number of perturbed_answer")


def check_paraphrases(records: list[dict[str, Any]], source: str, role: str, start_row: int = 0) -> None:
    """A set with perturbed answers computes the truth ratio against each record's paraphrase (except
    "general" sets): a record without one, among records with one, would drop the set's truth ratio
    (and a ninth of model utility) without a word, so it is an error naming the row."""
    if role == "general" or not records or not records[0].get("perturbed_answer"):
        return
    have = [bool(r.get("paraphrased_answer")) for r in records]
    if any(have) and not all(have):
        missing, present = have.index(False), have.index(True)
        raise DataError(f"{source}: row {start_row + missing} has no paraphrased_answer but row {start_row + present} "
                        "has one; give every record of the set a paraphrased_answer (the truth ratio needs it), "
                        "or none")


def has_alternatives(records: Iterable[dict[str, Any]], role: str) -> bool:
    """Every record has perturbed answers, and a paraphrased answer unless the set is "general"."""
    records = list(records)
    need = ("perturbed_answer",) if role == "general" else ("paraphrased_answer", "perturbed_answer")
    return bool(records) and all(r.get(f) for r in records for f in need)


def training_records(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Canonical records as the trainer's (question, answer) samples. Text and completion records are
    marked `"raw": True` (no prompt template: the trainer scores them with `encode_raw`); a plain text
    has an empty question, so the whole text is the target. A choice record trains on its right choice."""
    if kind == "text":
        return [{"question": "", "answer": r["text"], "raw": True} for r in records]
    if kind == "completion":
        return [{"question": r["question"], "answer": r["answer"], "raw": True} for r in records]
    if kind == "choice":
        return [{"question": r["question"], "answer": r["choices"][r["label"]]} for r in records]
    return records
