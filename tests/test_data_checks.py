"""Checks of the training data before any model loads (unlearn.data.checks), on hand-made rows."""

from __future__ import annotations

import warnings

import pytest

from unlearn.core.errors import DataError, UnlearnWarning
from unlearn.data.checks import check_streams, repeated_rows, shared_questions


def _qa(*pairs):
    return [{"question": q, "answer": a} for q, a in pairs]


def _text(*texts):
    return [{"question": "", "answer": t, "raw": True} for t in texts]


def test_repeated_rows_need_the_same_question_and_answer():
    rows = _qa(("Who?", "Ann"), ("who?  ", "ann"), ("Who?", "Bob"), ("Where?", "Rome"), ("WHO?", "Ann"))
    assert repeated_rows(rows) == (2, "who?  ")  # rows 1 and 4 repeat row 0 (case and spacing ignored)


def test_shared_questions_compare_questions_and_whole_texts():
    forget = _qa(("Who wrote X?", "Ann"), ("Where is Y?", "Rome"))
    retain = _qa(("who wrote  x?", "Someone else"), ("When?", "1990"))
    assert shared_questions(forget, retain) == (1, "Who wrote X?")
    # raw text has an empty question: two passages overlap only when their whole texts are the same
    assert shared_questions(_text("a story", "another"), _text("a third", "more")) == (0, None)
    assert shared_questions(_text("a story", "another"), _text("A  story")) == (1, "a story")


def test_check_streams_modes():
    records = {"forget": _qa(("Q1", "A"), ("Q2", "B")), "retain": _qa(("Q2", "B"), ("Q3", "C"))}
    names = {"forget": "split forget10", "retain": "split retain90"}
    with pytest.raises(DataError, match=r"^1 of 2 forget questions are also in the retain data \(split retain90; "
                                        r"first: 'Q2'\).*data\.overlap=warn"):
        check_streams(records, "error", names)
    with pytest.warns(UnlearnWarning, match="they were kept in both"):
        check_streams(records, "warn", names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_streams(records, "ignore", names)  # nothing said
        check_streams({"forget": _text("x", "y"), "retain": _text("z")}, "warn", names)  # texts do not collide
