"""Run-folder integrity: fingerprints, the run lock, disk errors and atomic folders."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from unlearn.config import RunConfig, load_config, to_dict
from unlearn.core.atomic import atomic_folder, clean_temp_folders, disk_errors
from unlearn.core.errors import ConfigError, UnlearnError, UnlearnWarning
from unlearn.engine.integrity import (
    FINGERPRINT_FILE,
    RunLock,
    check_fingerprint,
    training_fingerprint,
    write_fingerprint,
)

REPO = Path(__file__).resolve().parents[1]
HASHES = {"forget10.json": "abc", "retain90.json": "def"}


def fingerprint(*overrides: str, hashes=HASHES, procs: int = 1) -> dict:
    return training_fingerprint(to_dict(load_config(None, list(overrides))), hashes, procs)


# ----------------------------------------------------------------------------------------------
# Fingerprints


def test_fingerprint_keys():
    fp = fingerprint("train.lr=0.001", "method.name=GA", "method.params.npo.beta=0.1", procs=2)
    assert fp["train.lr"] == 0.001
    assert fp["method.name"] == "GA"
    assert fp["method.params.npo.beta"] == 0.1
    assert fp["data_hashes.forget10.json"] == "abc"
    assert fp["num_processes"] == 2
    assert len(fp["hash"]) == 64
    for gone in ("out", "train.save_every", "train.keep_checkpoints", "train.log_every", "train.progress_every"):
        assert gone not in fp
    assert not any(k.startswith("eval.") for k in fp)
    assert "model.path" in fp and "train.seed" in fp and "data.forget_split" in fp
    assert training_fingerprint(RunConfig(), {}, 1) == training_fingerprint(to_dict(RunConfig()), {}, 1)


def test_fingerprint_hash_tracks_only_training_keys():
    base = fingerprint()["hash"]
    assert fingerprint("out=runs/other", "eval.batch_size=3", "train.save_every=5", "train.log_every=7",
                       "train.keep_checkpoints=3")["hash"] == base
    assert fingerprint("train.lr=0.5")["hash"] != base
    assert fingerprint("method.params.beta=0.3")["hash"] != base
    assert fingerprint(hashes={**HASHES, "forget10.json": "changed"})["hash"] != base
    assert fingerprint(procs=4)["hash"] != base


def test_a_run_made_before_the_checking_switches_existed_is_still_the_same_run():
    """data.overlap and method.allow_negative_weights came later; a folder fingerprinted without them
    (an older version) must still be reused and resumed, and switching them changes no weights."""
    config = to_dict(load_config(None, []))
    del config["data"]["overlap"], config["method"]["allow_negative_weights"]
    assert training_fingerprint(config, HASHES, 1) == fingerprint()
    assert fingerprint("data.overlap=error", "method.allow_negative_weights=true") == fingerprint()


def test_check_fingerprint(tmp_path):
    run = tmp_path / "x"
    old = fingerprint("method.name=GA", "train.lr=0.001")
    assert check_fingerprint(run, old, "a finished run") is False  # nothing stored yet
    write_fingerprint(run, old)
    assert json.loads((run / FINGERPRINT_FILE).read_text()) == old
    assert [p.name for p in run.iterdir()] == [FINGERPRINT_FILE]  # no temporary file left
    assert check_fingerprint(run, fingerprint("method.name=GA", "train.lr=0.001", "out=elsewhere"), "a checkpoint")

    new = fingerprint("method.name=NPO_KLR", "train.lr=0.0005")
    with pytest.raises(ConfigError) as err:
        check_fingerprint(run, new, "a finished run")
    assert str(err.value) == (
        f"{run} holds a finished run made with a different config (method.name: 'GA' -> 'NPO_KLR', "
        f"train.lr: 0.001 -> 0.0005); use a new out= folder, or delete {run} to start afresh"
    )


def test_check_fingerprint_lists_at_most_five(tmp_path):
    write_fingerprint(tmp_path, fingerprint())
    new = fingerprint("train.lr=0.5", "train.seed=3", "train.batch_size=2", "train.grad_accum=4",
                      "train.weight_decay=0.5", "train.epochs=9", "method.params.beta=0.3", procs=2)
    with pytest.raises(ConfigError) as err:
        check_fingerprint(tmp_path, new, "a checkpoint")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path} holds a checkpoint made with a different config (")
    assert "method.params.beta: <unset> -> 0.3" in message
    assert message.count(" -> ") == 5 and ", +3 more); use a new out= folder" in message


def test_unreadable_fingerprint(tmp_path):
    (tmp_path / FINGERPRINT_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="is unreadable .*delete .* to start afresh"):
        check_fingerprint(tmp_path, fingerprint(), "a checkpoint")


# ----------------------------------------------------------------------------------------------
# Run lock


def test_lock_conflict_in_one_process(tmp_path):
    run = tmp_path / "x"
    with RunLock(run) as lock:
        assert lock.locked and (run / ".lock").is_file()
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
        other = RunLock(run)
        message = other.acquire()
        assert message.startswith(f"{run} is in use by another run (pid {os.getpid()}, started ")
        assert message.endswith("); wait for it to finish or choose another out=")
        with pytest.raises(UnlearnError, match="is in use by another run"):
            with RunLock(run):
                pass
        assert lock.acquire() is None  # taking it again while held is a no-op
    assert RunLock(run).acquire() is None  # released on exit
    again = RunLock(run)
    assert again.acquire() is None
    again.release()
    again.release()  # twice is harmless


HOLDER = """
import sys, time
from unlearn.engine.integrity import RunLock
lock = RunLock(sys.argv[1])
assert lock.acquire() is None
print("locked", flush=True)
time.sleep(120)
"""


def test_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "x"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Run the holder with unlearn.engine's package __init__ skipped: only the lock module is needed.
    code = ("import sys, types; m = types.ModuleType('unlearn.engine'); "
            f"m.__path__ = [{str(REPO / 'unlearn' / 'engine')!r}]; sys.modules['unlearn.engine'] = m\n" + HOLDER)
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = RunLock(run).acquire()
        assert message is not None and f"(pid {holder.pid}, started " in message
    finally:
        holder.kill()
        holder.wait()
    with pytest.warns(UnlearnWarning, match=rf"left locked by a run that stopped without finishing \(pid {holder.pid}, "
                                            r"started .*\); taking the folder over"):
        with RunLock(run) as lock:
            assert lock.locked
    with warnings.catch_warnings():  # released cleanly: the next run takes it without a word
        warnings.simplefilter("error")
        with RunLock(run) as lock:
            assert lock.locked


# ----------------------------------------------------------------------------------------------
# Disk errors


def test_disk_errors_one_liners():
    with pytest.raises(UnlearnError) as err:
        with disk_errors("checkpoint runs/x/checkpoints/step-000010"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(err.value) == ("cannot write checkpoint runs/x/checkpoints/step-000010 (No space left on device); "
                              "free some space or choose another out=")
    for code, fix in [(errno.EROFS, "writable disk"), (errno.EACCES, "make the folder writable"),
                      (errno.EDQUOT, "quota"), (errno.ENOTDIR, "a part of the path is a file")]:
        with pytest.raises(UnlearnError, match=fix) as err:
            with disk_errors("runs/x"):
                raise OSError(code, os.strerror(code), "runs/x")
        assert str(err.value).startswith(f"cannot write runs/x ({os.strerror(code)}); ")
    with pytest.raises(KeyError):  # other errors pass through untouched
        with disk_errors("runs/x"):
            raise KeyError("a bug")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_errors_real_full_disk():
    with pytest.raises(UnlearnError, match=r"^cannot write log \(No space left on device\); free some space"):
        with disk_errors("log"):
            with open("/dev/full", "w") as f:
                f.write("x" * 100_000)


def test_disk_errors_safetensors_error():
    import torch
    from safetensors.torch import save_file

    with pytest.raises(UnlearnError, match=r"^cannot write weights \(No such file or directory\); "):
        with disk_errors("weights"):
            save_file({"a": torch.zeros(2)}, "/nonexistent-folder/x.safetensors")


# ----------------------------------------------------------------------------------------------
# Atomic folders


def test_atomic_folder_success_and_replace(tmp_path):
    final = tmp_path / "step-000010"
    with atomic_folder(final) as tmp:
        assert tmp.name == f".tmp-step-000010-{os.getpid()}" and tmp.parent == tmp_path
        (tmp / "a.txt").write_text("one")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "one"
    with atomic_folder(final) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]  # replaced, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["step-000010"]  # nothing left beside it


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    final = tmp_path / "step-000020"
    with pytest.raises(RuntimeError):
        with atomic_folder(final) as tmp:
            (tmp / "half.bin").write_bytes(b"12")
            raise RuntimeError("killed mid-save")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(final) as tmp:
        (tmp / "good").write_text("ok")
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(final) as tmp:
            raise KeyboardInterrupt
    assert (final / "good").read_text() == "ok"  # the old complete folder survives
    assert [p.name for p in tmp_path.iterdir()] == ["step-000020"]


def test_atomic_folder_shared_tag_and_cleanup(tmp_path):
    with atomic_folder(tmp_path / "ckpt", tag="job7") as tmp:
        assert tmp.name == ".tmp-ckpt-job7"
    (tmp_path / ".tmp-step-000030-999").mkdir()  # left by a killed run
    (tmp_path / ".old-step-000020-999").mkdir()
    assert clean_temp_folders(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]
    assert clean_temp_folders(tmp_path / "missing") == 0
