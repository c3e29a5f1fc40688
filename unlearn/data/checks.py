"""Checks of the training data made before any model loads (data.overlap says what to do):

* rows repeated within a stream (same question and answer): they weigh more than the others;
* forget questions that are also in the retain stream: the retain term trains them straight back in
  (e.g. a forget file copied into the retain file), so the run cannot forget them.

`warn` (the default) sends a warning with the count and says what was done (nothing: the rows are
kept); `error` stops with a one-line DataError; `ignore` says nothing.
"""

from __future__ import annotations

from typing import Any

from unlearn.core.errors import DataError, warn

CHECKED_STREAMS = ("train", "forget", "retain")


def _norm(text: Any) -> str:
    """Texts compare without case and with runs of whitespace as one space."""
    return " ".join(str(text).split()).casefold()


def _asks(row: dict[str, Any]) -> str:
    """What a row asks: its question; for raw text (corpora, completions, whose question is empty or a
    prefix) the whole text, since two passages are the same only when all of it is."""
    return _norm(row["question"] + row["answer"]) if row.get("raw") else _norm(row["question"])


def _shown(row: dict[str, Any]) -> str:
    text = row["question"] if row["question"].strip() else row["answer"]
    return text if len(text) <= 60 else text[:57] + "..."


def repeated_rows(records: list[dict[str, Any]]) -> tuple[int, str | None]:
    """(how many rows repeat an earlier row's question and answer, the first such row shown)."""
    seen: set[tuple[str, str]] = set()
    count, first = 0, None
    for r in records:
        key = (_norm(r["question"]), _norm(r["answer"]))
        if key in seen:
            count += 1
            first = first if first is not None else _shown(r)
        seen.add(key)
    return count, first


def shared_questions(forget: list[dict[str, Any]], retain: list[dict[str, Any]]) -> tuple[int, str | None]:
    """(how many forget rows ask what a retain row asks, the first of them shown)."""
    retained = {_asks(r) for r in retain}
    both = [_shown(r) for r in forget if _asks(r) in retained]
    return len(both), (both[0] if both else None)


def _report(message: str, mode: str, kept: str) -> None:
    if mode == "error":
        raise DataError(f"{message}; remove them, or set data.overlap=warn to go on with them")
    if mode == "warn":
        warn(f"{message}; {kept} (data.overlap=error stops instead, data.overlap=ignore silences this)")


def check_streams(records: dict[str, list[dict[str, Any]]], mode: str, names: dict[str, str]) -> None:
    """Check the training streams (`names`: stream -> the split it was read from, for messages)."""
    if mode == "ignore":
        return
    for stream in CHECKED_STREAMS:
        rows = records.get(stream)
        if not rows:
            continue
        count, first = repeated_rows(rows)
        if count:
            _report(f"{count} of {len(rows)} rows of the {stream} data ({names.get(stream, stream)}) repeat an "
                    f"earlier row's question and answer (first: {first!r})", mode,
                    "they were kept, so they weigh more than the other rows")
    if records.get("forget") and records.get("retain"):
        count, first = shared_questions(records["forget"], records["retain"])
        if count:
            _report(f"{count} of {len(records['forget'])} forget questions are also in the retain data "
                    f"({names.get('retain', 'retain')}; first: {first!r}), so the retain term trains them back in",
                    mode, "they were kept in both")
