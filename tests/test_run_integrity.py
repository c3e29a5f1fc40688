"""Run folders keep their word: a changed config is refused with the keys that differ, a folder in use
is refused, disk errors are one line and leave nothing half-written, stale results are never reused."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from unlearn import api
from unlearn.config import load_config, to_dict as _config_dict
from unlearn.core.errors import ConfigError, UnlearnError

from conftest import run_cli


def _args(world: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["unlearn", f"out={out}", f"model.path={model}", f"data.path={world}", "method.name=GA",
            "train.max_steps=2", "train.batch_size=4", "eval.max_new_tokens=4", "eval.splits=forget",
            "train.progress_every=0", *extra]


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("unlearn: error: "), proc.stderr[-2000:]
    return lines[0]


def test_rerun_reuses_same_config_and_refuses_a_changed_one(world, target_model, tmp_path):
    out = tmp_path / "run"
    first = run_cli(*_args(world, target_model, out))
    assert first.returncode == 0, first.stderr[-2000:]
    # Without a terminal, progress is printed as lines (a bar only on a TTY).
    assert "GA: step 1/2 (50%)" in first.stderr and "GA: step 2/2 (100%)" in first.stderr
    again = run_cli(*_args(world, target_model, out))
    assert again.returncode == 0 and "reusing it" in again.stderr

    # A different method into the finished run's folder: refused before any model loads (the model
    # path does not even exist), naming the keys that differ and how to start afresh.
    changed = run_cli(*_args(world, tmp_path / "no-such-model", out, "method.name=NPO_KLR"))
    line = _one_error_line(changed)
    assert "holds a finished run made with a different config" in line
    assert "method.name: 'GA' -> 'NPO_KLR'" in line and "model.path:" in line
    assert "delete" in line and "out=" in line and "does not exist" not in line


def test_a_run_made_when_the_method_differed_is_not_reused(world, target_model, tmp_path):
    """The fingerprint holds the method as computed, defaults included: a finished run whose method had
    another default (as TNPO before the authors' eps) is refused, not reused as this version's."""
    out = tmp_path / "run"
    cfg = load_config(overrides=_args(world, target_model, out, "method.name=TNPO")[1:])
    api.run_unlearning(cfg)
    path = out / "fingerprint.json"
    stored = json.loads(path.read_text())
    assert stored["method_resolved.tnpo.eps"] == 1e-5 and stored["method_resolved.gdr.role"] == "retain"
    del stored["method_resolved.tnpo.eps"]  # as a run made before the option existed (another hash)
    stored["hash"] = "0" * 16
    path.write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match=r"different config \(method_resolved.tnpo.eps: <unset> -> 1e-05\)"):
        api.run_unlearning(cfg)


def test_a_finished_folder_whose_files_changed_is_not_reused(world, target_model, tmp_path):
    """The reuse decision checks the folder against what it recorded when it finished: a fingerprint.json
    edited to name another method (so that method's config would match it) and replaced weights are each
    a one-line error naming the file, never the old model's metrics printed as the new method's."""
    import shutil

    out = tmp_path / "run"
    api.run_unlearning(load_config(overrides=_args(world, target_model, out)[1:]))
    npo = load_config(overrides=_args(world, target_model, out, "method.name=NPO")[1:])
    from unlearn.engine.integrity import training_fingerprint
    from unlearn.methods import build_method

    edited = json.loads((out / "fingerprint.json").read_text())
    wanted = training_fingerprint({**_config_dict(npo), "method_resolved": build_method(npo.method).resolved()}, {}, 1)
    edited.update({k: v for k, v in wanted.items() if k.startswith(("method.", "method_resolved."))})
    edited = {k: v for k, v in edited.items() if not k.startswith("method_resolved.ga.")}
    edited["hash"] = training_fingerprint(
        {k: v for k, v in edited.items() if k != "hash"}, {}, 1)["hash"]  # rehashed: it looks genuine
    saved = (out / "fingerprint.json").read_text()
    (out / "fingerprint.json").write_text(json.dumps(edited))
    with pytest.raises(ConfigError, match="fingerprint.json no longer matches the run"):
        api.run_unlearning(npo)
    (out / "fingerprint.json").write_text(saved)
    shutil.copy(target_model / "model.safetensors", out / "model" / "model.safetensors")
    with pytest.raises(ConfigError, match=r"model/model.safetensors changed since the run finished"):
        api.run_unlearning(load_config(overrides=_args(world, target_model, out)[1:]))


def test_changed_eval_settings_reevaluate_instead_of_reusing(world, target_model, tmp_path):
    out = tmp_path / "run"
    cfg = lambda *extra: load_config(overrides=_args(world, target_model, out, *extra)[1:])  # noqa: E731
    first = api.run_unlearning(cfg())
    assert first["metrics"]["eval_config"]["max_new_tokens"] == 4
    second = api.run_unlearning(cfg("eval.max_new_tokens=6"))
    assert second["skipped"] and second["metrics"]["eval_config"]["max_new_tokens"] == 6
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["eval_config"]["max_new_tokens"] == 6


def test_resuming_a_checkpoint_with_another_learning_rate_is_refused(world, target_model, tmp_path, monkeypatch):
    from unlearn.engine import step as step_module

    out = tmp_path / "run"
    original = step_module.StepRunner.run

    def run(self, step):
        if step == 3:
            raise KeyboardInterrupt
        return original(self, step)

    cfg = lambda *extra: load_config(overrides=_args(world, target_model, out, "train.max_steps=5",  # noqa: E731
                                                     "train.save_every=2", "eval.enabled=false", *extra)[1:])
    with monkeypatch.context() as patch:
        patch.setattr(step_module.StepRunner, "run", run)
        with pytest.raises(KeyboardInterrupt):
            api.run_unlearning(cfg())
    assert (out / "checkpoints" / "step-000002" / "trainer_state.json").is_file()
    with pytest.raises(UnlearnError) as err:
        api.run_unlearning(cfg("train.lr=0.5"))
    assert "holds a checkpoint made with a different config (train.lr: 1e-05 -> 0.5)" in str(err.value)
    assert api.run_unlearning(cfg())["resumed_from"] == 2  # the same config still resumes


def test_a_folder_in_use_is_refused(world, target_model, tmp_path):
    from unlearn.engine.integrity import RunLock

    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        proc = run_cli(*_args(world, tmp_path / "no-such-model", out))
    line = _one_error_line(proc)
    assert "is in use by another run" in line and "does not exist" not in line
    after = run_cli(*_args(world, target_model, out))  # the lock is gone with its holder
    assert after.returncode == 0, after.stderr[-2000:]


def test_full_disk_during_a_checkpoint_is_one_line_and_leaves_nothing(world, target_model, tmp_path, monkeypatch):
    from unlearn.engine import checkpoint

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "optimizer_state_to_files", full)
    out = tmp_path / "run"
    with pytest.raises(UnlearnError) as err:
        api.run_unlearning(load_config(overrides=_args(world, target_model, out, "train.save_every=1",
                                                       "eval.enabled=false")[1:]))
    message = str(err.value)
    assert message.startswith("cannot write checkpoint") and "No space left on device" in message
    assert "\n" not in message
    assert list((out / "checkpoints").iterdir()) == []  # no half-written folder, complete-looking or not
    assert not (out / "model").exists()


def test_tofu_download_is_atomic(tmp_path, monkeypatch):
    import datasets

    from unlearn.core.errors import DataError
    from unlearn.data.benchmarks import TOFU_HUB_CONFIGS, TOFU_HUB_OPTIONAL, download_tofu

    calls = []

    class Rows:
        def __init__(self, config):
            self.config = config

        def to_list(self):
            return [{"question": f"q {self.config}", "answer": "a"}]

    def fake_load(repo, config, split):
        calls.append(config)
        if len(calls) == 3:
            raise ConnectionError("network down")
        return Rows(config)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    folder = tmp_path / "tofu"
    with pytest.raises(DataError, match="network down"):
        download_tofu("locuslab/TOFU", cache=folder)
    assert not folder.exists() and list(tmp_path.iterdir()) == []  # nothing that looks downloaded

    monkeypatch.setattr(datasets, "load_dataset", lambda repo, config, split: Rows(config))
    assert download_tofu("locuslab/TOFU", cache=folder) == folder
    # the holdout sets are fetched too when the hub has them (here it does)
    assert sorted(p.stem for p in folder.iterdir()) == sorted([*TOFU_HUB_CONFIGS, *TOFU_HUB_OPTIONAL])
