"""Fault tests: a run killed (SIGKILL, no cleanup) while training, checkpointing, saving the model,
marking the run finished or evaluating, at a random occurrence of each (the step, the checkpoint, the
evaluation batch; the seed is in every failure message and set with UNLEARN_FAULT_SEED), then started
again with the same command, ends identical to a run never interrupted (weights, metrics, per-sample
results, log); a full disk (a size-limited file
and, where it can be mounted, a small tmpfs) and a read-only output folder end in one-line errors with
nothing half-written that looks complete. Slow (a dozen processes): `pytest -m slow`; CI runs them.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fault_driver import KILL_POINTS
from safetensors.torch import load_file

from conftest import REPO

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("UNLEARN_FAULT_SEED", random.SystemRandom().randrange(2**32)))


def _args(world: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["unlearn", f"out={out}", f"model.path={model}", f"data.path={world}", "method.name=NPO_GDR",
            "train.max_steps=8", "train.batch_size=4", "train.save_every=2", "train.lr=1e-3",
            "eval.splits=forget,retain", "eval.max_new_tokens=8", "eval.batch_size=4", *extra]


def _env(cache: Path) -> dict[str, str]:
    # Each run folder has its own evaluation cache: the straight run computes everything itself.
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}", "UNLEARN_CACHE": str(cache),
            "OMP_NUM_THREADS": "1"}


def _run(args: list[str], cache: Path, prefix: list[str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "unlearn", *args], capture_output=True, text=True,
                          cwd=REPO, env=_env(cache), timeout=600, **kw)


def _log(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in rows]


def _same_run(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model" / "model.safetensors")), load_file(str(b / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((a / "metrics.json").read_text())["metrics"] == json.loads((b / "metrics.json").read_text())["metrics"]
    assert (a / "samples.jsonl").read_text() == (b / "samples.jsonl").read_text()
    assert _log(a) == _log(b)
    assert json.loads((a / "train_state.json").read_text())["completed"] is True


@pytest.fixture(scope="module")
def straight(world, target_model, tmp_path_factory) -> Path:
    """The run never interrupted."""
    out = tmp_path_factory.mktemp("straight") / "run"
    proc = _run(_args(world, target_model, out), out.parent / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _looks_complete_or_absent(run: Path) -> None:
    """After a kill: every checkpoint that looks complete is, and model/ is absent or whole."""
    for ckpt in (run / "checkpoints").glob("step-*"):
        if (ckpt / "trainer_state.json").is_file():
            names = {p.name for p in ckpt.iterdir()}
            assert {"trainable.safetensors", "optimizer.safetensors", "scheduler.json"} <= names, names
    if (run / "model").exists():
        assert (run / "model" / "model.safetensors").is_file() and (run / "model" / "config.json").is_file()


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_anywhere_resumes_to_the_same_result(point, straight, world, target_model, tmp_path):
    run, cache, marker = tmp_path / "run", tmp_path / "cache", tmp_path / "killed-at"
    nth = random.Random(f"{SEED}-{point}").randint(1, KILL_POINTS[point])
    where = f"killed at {point} #{nth} (UNLEARN_FAULT_SEED={SEED})"
    args = _args(world, target_model, run)
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "fault_driver.py"), point, str(nth), str(marker),
                             "--", *args], capture_output=True, text=True, cwd=REPO, env=_env(cache), timeout=600)
    assert killed.returncode == -signal.SIGKILL, (where, killed.stderr[-3000:])
    assert marker.read_text() == point, where  # it died where it was meant to
    assert not (run / "metrics.json").exists()
    _looks_complete_or_absent(run)
    if point in ("checkpointing", "saving"):
        leftovers = [p.name for p in (*run.iterdir(), *(run / "checkpoints").iterdir()) if p.name.startswith(".tmp-")]
        assert leftovers, where  # the kill landed mid-write: hidden, never taken for a finished folder

    again = _run(args, cache)
    assert again.returncode == 0, (where, again.stderr[-3000:])
    assert "Traceback" not in again.stderr
    assert "taking the folder over" in again.stderr, where  # the killed run's lock record is noticed
    _same_run(run, straight)
    assert not any(p.name.startswith(".tmp-") for p in run.iterdir()), where


def test_a_size_limited_disk_is_one_line_and_leaves_nothing(world, target_model, tmp_path, straight):
    """RLIMIT_FSIZE caps every file this process writes (the kernel answers EFBIG, 'File too large'):
    the first checkpoint cannot be written. Then the same command without the limit trains afresh and
    ends identical to the straight run: nothing was lost that the limit had not prevented."""
    run, cache = tmp_path / "run", tmp_path / "cache"
    limit = 64 * 1024  # the config and log fit; the tiny model's checkpoint does not

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = _run(_args(world, target_model, run), cache, preexec_fn=cap)
    _one_error(proc, "cannot write", "checkpoints/", "step-000002", "File too large", "free some space")
    _nothing_half_written(run)
    again = _run(_args(world, target_model, run), cache)
    assert again.returncode == 0, again.stderr[-3000:]
    _same_run(run, straight)


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root")
def test_a_full_tmpfs_is_one_line_and_leaves_nothing(world, target_model, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        run = disk / "run"
        proc = _run(_args(world, target_model, run), tmp_path / "cache")
        _one_error(proc, "cannot write", "No space left on device", "free some space")
        _nothing_half_written(run)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _read_only_prefix() -> list[str] | None:
    """How to run a process that read-only permissions stop: as is for a normal user; as root without
    the capability to override them (setpriv), since root writes anywhere."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.skipif(_read_only_prefix() is None, reason="as root, needs setpriv to drop the permission override")
@pytest.mark.parametrize("command", ["unlearn", "eval"])
def test_a_read_only_output_folder_is_one_line(command, world, target_model, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        if command == "unlearn":
            args = _args(world, target_model, out)
        else:
            args = ["eval", str(target_model), "--data", str(world), "--out", str(out)]
        proc = _run(args, tmp_path / "cache", prefix=_read_only_prefix())
        _one_error(proc, "cannot write", str(out), "Permission denied", "make the folder writable")
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def _one_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("unlearn: error: ")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def _nothing_half_written(run: Path) -> None:
    """No checkpoint folder, model or finished-run marker that a later run could take for complete."""
    assert not (run / "model").exists() and not (run / "train_state.json").exists()
    if (run / "checkpoints").exists():
        assert list((run / "checkpoints").iterdir()) == []


def test_under_two_processes_a_data_error_stops_both_with_one_line_and_a_warning_is_printed_once(
        world, target_model, tmp_path):
    """The checks run on the main process and reach the other one (no process waits for ever): a data
    error stops both with status 2 and is printed once; a warning is printed once."""
    import socket

    bad = tmp_path / "world"
    shutil.copytree(world, bad)
    shutil.copy(bad / "forget10.json", bad / "retain90.json")  # the forget set copied into the retain set
    env = {**_env(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    results = []
    for mode in ("error", "warn"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        results.append(subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
             "-m", "unlearn", "unlearn", f"out={tmp_path / mode}", f"model.path={target_model}", f"data.path={bad}",
             "method.name=GA_GDR", f"data.overlap={mode}", "train.max_steps=1", "train.batch_size=4",
             "eval.enabled=false"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300))
    error, warned = results
    assert error.returncode != 0
    lines = [line for line in error.stderr.splitlines() if line.startswith("unlearn: error: ")]
    assert len(lines) == 1 and "10 of 10 forget questions are also in the retain data" in lines[0], error.stderr
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert sum(line.startswith("unlearn: warning: ") for line in warned.stderr.splitlines()) == 1, warned.stderr
