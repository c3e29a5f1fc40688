"""The real `unlearn` process: a bad input exits with status 2 and one stderr line, no traceback. The
bad-input corpus (tests/test_bad_input.py) runs the same entry point in-process for every case; these
few cases check that a separate process behaves the same."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli


def _assert_clean_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("unlearn: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_a_data_error_in_a_real_process(world, target_model, tmp_path):
    broken = tmp_path / "world"
    broken.mkdir()
    for f in world.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    rows = json.loads((broken / "forget10.json").read_text())
    rows[1]["answer"] = 42
    (broken / "forget10.json").write_text(json.dumps(rows))
    proc = run_cli("unlearn", f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={broken}",
                   "method.name=GA")
    _assert_clean_error(proc, "forget10.json: row 1 field 'answer'", "is a number (42)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, fragments", [
    (["unlearn", "out={tmp}/run", "method.name=NPO", "method.params.npo.beta=0"],
     ["method.params.npo.beta must be above 0"]),
    (["world", "--out", "{tmp}/w", "--people", "x"], ["argument --people: invalid int value: 'x'"]),
])
def test_config_and_argument_errors_in_a_real_process(args, fragments, tmp_path):
    _assert_clean_error(run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args]), *fragments)


def test_a_closed_pipe_ends_quietly():
    """`unlearn methods | true`: the reader is gone before the command writes; it exits 0, no traceback."""
    import subprocess
    import sys

    proc = subprocess.run(["bash", "-c", f"'{sys.executable}' -m unlearn methods | true; exit ${{PIPESTATUS[0]}}"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.returncode


def test_a_50_megabyte_answer_is_evaluated_within_a_bound(target_model, tmp_path):
    """An answer of 50 MB: it is cut to what the context holds before it is tokenised or scored (ROUGE-L on
    the cut text, with a warning), so the evaluation ends in seconds instead of running for minutes; the
    subprocess timeout is the bound a hang would break."""
    data = tmp_path / "data"
    data.mkdir()
    huge = "word " * 10_000_000
    (data / "forget.jsonl").write_text(json.dumps({"question": "Tell me everything.", "answer": huge}) + "\n"
                                       + json.dumps({"question": "Who?", "answer": "Nobody."}) + "\n")
    (data / "retain.jsonl").write_text(json.dumps({"question": "What?", "answer": "Something."}) + "\n")
    proc = run_cli("eval", str(target_model), "--data", str(data), "--benchmark", "custom", "--out",
                   str(tmp_path / "ev"), "eval.max_new_tokens=4", timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answers longer than the context (256 tokens with the prompt): 1" in proc.stderr  # the model's context
    rows = [json.loads(line) for line in (tmp_path / "ev" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(0.0 <= r["rougeL_recall"] <= 1.0 for r in rows)
