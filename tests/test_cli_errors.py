"""Bad input gets a one-line error naming the problem and the fix, no traceback, a non-zero exit."""

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


def test_unknown_method(world, target_model, tmp_path):
    proc = run_cli("unlearn", f"out={tmp_path}", f"model.path={target_model}", f"data.path={world}",
                   "method.name=GAA")
    _assert_clean_error(proc, "unknown method 'GAA'", "NPO_GDR")


def test_unknown_method_in_demo(tmp_path):
    _assert_clean_error(run_cli("demo", "--out", str(tmp_path), "--methods", "GA,FOO"), "'FOO'", "GA_GDR")


def test_unknown_config_key(tmp_path):
    proc = run_cli("unlearn", f"out={tmp_path}", "train.learnrate=1e-4")
    _assert_clean_error(proc, "train.learnrate", "lr")


def test_model_path_does_not_exist(world, tmp_path):
    proc = run_cli("unlearn", f"out={tmp_path}", f"model.path={tmp_path / 'no-such-model'}", f"data.path={world}")
    _assert_clean_error(proc, "no-such-model", "does not exist")


def test_data_file_missing_a_field(world, target_model, tmp_path):
    broken = tmp_path / "world"
    broken.mkdir()
    for f in world.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    rows = json.loads((broken / "forget10.json").read_text())
    del rows[1]["answer"]
    (broken / "forget10.json").write_text(json.dumps(rows))
    proc = run_cli("unlearn", f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={broken}",
                   "method.name=GA")
    _assert_clean_error(proc, "forget10.json", "record 1", "'answer'")


def test_malformed_data_file(world, target_model, tmp_path):
    broken = tmp_path / "world"
    broken.mkdir()
    for f in world.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "forget10.json").write_text('[{"question": "q", "answer": ')
    proc = run_cli("unlearn", f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={broken}")
    _assert_clean_error(proc, "forget10.json", "not valid JSON")


def test_missing_benchmark_folder(target_model, tmp_path):
    proc = run_cli("unlearn", f"out={tmp_path}", f"model.path={target_model}", f"data.path={tmp_path / 'nowhere'}")
    _assert_clean_error(proc, "nowhere", "unlearn world")


@pytest.mark.parametrize("args, fragment", [
    (["unlearn", "method.params.bta=0.1", "method.name=NPO"], "bta"),
    (["unlearn", "method.reference=sometimes", "method.name=NPO"], "sometimes"),
    (["world", "--out", "{tmp}/w", "--people", "3"], "n_people"),
])
def test_other_bad_options(args, fragment, world, target_model, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "unlearn":
        args += [f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={world}"]
    _assert_clean_error(run_cli(*args), fragment)
