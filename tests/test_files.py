"""The one JSON-lines reader and the resume-time log trim (unlearn/core/files.py) on hand-written files."""

from __future__ import annotations

import pytest

from unlearn.core.errors import DataError
from unlearn.core.files import drop_rows_after, parse_json_lines


def test_json_lines_skip_blanks_name_the_bad_line_or_skip_it():
    text = '{"a": 1}\n\n[2]\n{"torn": \n"x"\n'
    with pytest.raises(DataError, match=r"^f.jsonl: line 4 is not valid JSON \(.*\); remake it$"):
        parse_json_lines(text, "f.jsonl", "remake it")
    assert parse_json_lines(text, "f.jsonl", "", skip_invalid=True) == [{"a": 1}, [2], "x"]


def test_a_more_telling_error_comes_first():
    def telling():
        raise DataError("the top level is an object")

    with pytest.raises(DataError, match="top level"):
        parse_json_lines("{\n}", "f", "fix", before_error=telling)


def test_drop_rows_after_keeps_the_lines_as_written(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 0.50}\n{"step": 2, "loss": 1e-05}\n\n{"note": "no step"}\n{"step": 3}\n')
    drop_rows_after(log, 2)
    # step 3 goes; a row without a step counts as step 0 and stays; the text is not re-serialised
    assert log.read_text() == '{"step": 1, "loss": 0.50}\n{"step": 2, "loss": 1e-05}\n{"note": "no step"}\n'
    drop_rows_after(tmp_path / "missing.jsonl", 1)  # nothing to trim
