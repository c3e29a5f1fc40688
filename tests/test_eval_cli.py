"""`unlearn eval MODEL --suite ... --retain-model ...` end to end, and its one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_cli


def _one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(("Loading", "eval:"))]
    assert len(lines) == 1 and lines[0].startswith("unlearn: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def self_reference(world, target_model, tmp_path_factory):
    """The model evaluated against itself as the retain model: forget quality must be 1, PrivLeak 0."""
    out = tmp_path_factory.mktemp("eval-self")
    proc = run_cli("eval", str(target_model), "--data", str(world), "--suite", "tofu,privacy", "--retain-model",
                   str(target_model), "--out", str(out), "eval.max_new_tokens=8", "--splits",
                   "forget,holdout")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_a_model_against_itself(self_reference):
    metrics = json.loads((self_reference / "metrics.json").read_text())
    m = metrics["metrics"]
    assert m["forget_quality"] == pytest.approx(1.0)  # identical truth ratios: KS statistic 0
    for attack in ("loss", "zlib", "min_k", "min_k_pp"):
        assert m[f"privleak_{attack}"] == pytest.approx(0.0)
    assert metrics["directions"]["privleak_loss"] == "closest to 0"
    assert metrics["reference"] == "the retain model"
    rows = [json.loads(line) for line in (self_reference / "samples.jsonl").read_text().splitlines()]
    assert {"id", "set", "truth_ratio_raw", "mia_loss"} <= set(rows[0])


def test_reference_from_an_earlier_evaluation(world, target_model, self_reference, tmp_path):
    proc = run_cli("eval", str(target_model), "--data", str(world), "--suite", "tofu", "--retain-eval",
                   str(self_reference), "--out", str(tmp_path / "e"), "eval.max_new_tokens=8", "--splits",
                   "forget,retain")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["metrics"]["forget_quality"] == pytest.approx(1.0)
    # The same reference against a slice of the forget set: other samples, refused.
    proc = run_cli("eval", str(target_model), "--data", str(world), "--suite", "tofu", "--retain-eval",
                   str(self_reference), "--out", str(tmp_path / "f"), "eval.max_new_tokens=8", "--splits",
                   "forget[:50%],retain")
    _one_line_error(proc, "forget_quality", "other samples of 'forget'", "same data file and slice")
    # found before any model loads: the same error with a model folder that does not exist
    proc = run_cli("eval", str(tmp_path / "no-model"), "--data", str(world), "--retain-eval", str(self_reference),
                   "--out", str(tmp_path / "g"), "--splits", "forget[:50%],retain")
    _one_line_error(proc, "other samples of 'forget'")


def test_unknown_suite_and_split(world, target_model, tmp_path):
    proc = run_cli("eval", str(target_model), "--data", str(world), "--suite", "tofu,privcy", "--out", str(tmp_path))
    _one_line_error(proc, "unknown suite 'privcy'", "valid: tofu, muse, privacy")
    proc = run_cli("eval", str(target_model), "--data", str(world), "--splits", "forgot", "--out", str(tmp_path))
    _one_line_error(proc, "forgot", "forget")


def _broken_world(world, tmp_path, edit):
    broken = tmp_path / "world"
    shutil.copytree(world, broken)
    path = broken / "forget10.json"
    rows = json.loads(path.read_text())
    path.write_text(json.dumps(edit(rows)))
    return broken


def test_bad_evaluation_data(world, target_model, tmp_path):
    def mismatched(rows):
        rows[2]["perturbed_answer"] = rows[2]["perturbed_answer"][:1]
        return rows

    broken = _broken_world(world, tmp_path / "a", mismatched)
    proc = run_cli("eval", str(target_model), "--data", str(broken), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "forget10.json", "row 2", "perturbed")
    broken = _broken_world(world, tmp_path / "b", lambda rows: [])
    proc = run_cli("eval", str(target_model), "--data", str(broken), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "forget10.json", "has no records")
