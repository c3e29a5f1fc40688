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


def test_library_warnings_stay_out_of_the_terminal_and_go_to_the_folder(tmp_path, monkeypatch, capsys):
    """A library's FutureWarning is kept for library_warnings.log; the package's own warnings and a
    library's other warnings are printed."""
    import warnings

    from unlearn.cli import commands, main
    from unlearn.core.errors import LIBRARY_WARNINGS, warn
    from unlearn.core.files import write_library_warnings

    def noisy(args):
        warnings.warn_explicit("is_gradient_checkpointing is deprecated", FutureWarning, "transformers/x.py", 7)
        warnings.warn_explicit("a library's real problem", UserWarning, "peft/y.py", 9)
        warn("3 samples were cut to data.max_length")

    monkeypatch.setitem(commands.COMMANDS, "metrics", noisy)
    LIBRARY_WARNINGS.clear()
    assert main(["metrics"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["unlearn: warning: UserWarning: a library's real problem",
                   "unlearn: warning: 3 samples were cut to data.max_length"]
    assert LIBRARY_WARNINGS == ["FutureWarning: is_gradient_checkpointing is deprecated (transformers/x.py:7)"]
    write_library_warnings(tmp_path)
    write_library_warnings(tmp_path)  # nothing new: nothing appended
    assert (tmp_path / "library_warnings.log").read_text() == LIBRARY_WARNINGS_TEXT and LIBRARY_WARNINGS == []


LIBRARY_WARNINGS_TEXT = "FutureWarning: is_gradient_checkpointing is deprecated (transformers/x.py:7)\n"
