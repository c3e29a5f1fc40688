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


def test_unknown_generator_in_demo(tmp_path):
    proc = run_cli("demo", "--out", str(tmp_path / "d"), "--generator", "gpt")
    _assert_clean_error(proc, "generator 'gpt' is not available", "hf:PATH", "http://HOST:PORT/v1#MODEL")
    assert not (tmp_path / "d" / "world").exists()  # refused before anything was made


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
    _assert_clean_error(proc, "forget10.json", "row 1", "'answer'")


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


# Each of these must fail while the method and options are checked, before any model is loaded: the
# model path does not exist, so an error about anything else proves the order (and no run folder is made).
@pytest.mark.parametrize("args, fragments", [
    (["method.name=NPO", "method.params.bta=0.1"], ["method.params.bta", "no term or transform 'bta'",
                                                    "npo (beta)"]),
    (["method.params.beta=0.1"], ["method.params.beta", "method.params.npo.beta=0.1"]),  # flat: NPO_GDR's npo
    (["method.params.klr.beta=1", "method.name=NPO_KLR"], ["method.params.klr.beta"]),  # klr has no parameters
    (["method.name=NPO+FOO"], ["unknown gradient transform 'foo'", "gru"]),
    (["method.name=NPO", "method.weights.gdr=1"], ["method.weights.gdr", "npo"]),
    (["method.name=NPO", "method.reference=sometimes"], ["sometimes", "cached"]),
    (["--config", "{tmp}/npo_abc.yaml"], ["method.params.npo.beta", "'abc'"]),
    (["method.name=NPO", "method.params.npo.beta=0"], ["method.params.npo.beta must be above 0"]),
    (["train.lr=0"], ["train.lr must be above 0 (got 0.0)"]),
    (["train.lr=-1e-4"], ["train.lr must be above 0", "trains backwards"]),
    (["method.name=FLAT_TV", "method.params.flat.divergence=hellinger"], ["'hellinger'", "tv, kl, js, pearson"]),
])
def test_method_errors_come_before_the_model_loads(args, fragments, world, tmp_path):
    (tmp_path / "npo_abc.yaml").write_text("method: {name: NPO, params: {npo: {beta: abc}}}\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run_dir = tmp_path / "run"
    proc = run_cli("unlearn", *args, f"out={run_dir}", f"model.path={tmp_path / 'no-such-model'}",
                   f"data.path={world}")
    _assert_clean_error(proc, *fragments)
    assert "no-such-model" not in proc.stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("args, fragment", [
    (["world", "--out", "{tmp}/w", "--people", "3"], "n_people"),
])
def test_other_bad_options(args, fragment, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    _assert_clean_error(run_cli(*args), fragment)
