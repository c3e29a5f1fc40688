"""Run-folder integrity: config fingerprints, a run lock, readable disk errors, atomic folders.

- :func:`training_fingerprint` / :func:`check_fingerprint` / :func:`write_fingerprint`: a run folder
  remembers the training-relevant config it was made with, so resuming (or skipping a finished run)
  with a different config is refused instead of silently mixing two runs.
- :class:`RunLock`: one run per folder at a time (``fcntl.flock``, released by the kernel if the
  process dies, so a killed run never leaves a stale lock).
- :func:`disk_errors`: full disks, read-only folders and the like become one-line :class:`UnlearnError`s.
- :func:`atomic_folder`: a folder is either complete or absent, never half-written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from unlearn.core.atomic import disk_errors, disk_message, write_json
from unlearn.core.errors import ConfigError, UnlearnError, warn

FINGERPRINT_FILE = "fingerprint.json"
LOCK_FILE = ".lock"

# Config keys that do not change the trained weights, so changing them must not invalidate a run or
# checkpoint: where the run lives, evaluation, checkpoint/logging cadence, and switches that only decide
# whether a check stops the run (data.overlap) or lets a value through (method.allow_negative_weights:
# the weights themselves are fingerprinted). A key ending in "." excludes everything under it.
FINGERPRINT_EXCLUDED = (
    "out",
    "eval.",
    "train.save_every",
    "train.keep_checkpoints",
    "train.log_every",
    "train.progress_every",
    "train.report_to",
    "data.overlap",
    "method.allow_negative_weights",
)

_MAX_LISTED_CHANGES = 5


# ----------------------------------------------------------------------------------------------
# Config fingerprints


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 1e-3}} -> {'train.lr': 1e-3}. Lists stay values; empty dicts vanish."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, tuple):
            out[name] = list(value)
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _excluded(key: str) -> bool:
    """True for keys in FINGERPRINT_EXCLUDED (exact, or under a "section." entry)."""
    return any(key.startswith(e) if e.endswith(".") else key == e for e in FINGERPRINT_EXCLUDED)


def _hash(entries: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces) of `entries`."""
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def training_fingerprint(config_dict: dict, data_hashes: dict[str, str], num_processes: int) -> dict:
    """The training-relevant part of a run's config as flat dotted keys, plus data hashes,
    `num_processes` and a 'hash' of all of them.

    `config_dict` is `unlearn.config.to_dict(cfg)` (a RunConfig dataclass is accepted too). Keys in
    FINGERPRINT_EXCLUDED are left out.
    """
    if not isinstance(config_dict, dict):
        import dataclasses

        config_dict = dataclasses.asdict(config_dict)
    # Unset options (None) are left out, so an option added by a newer version does not make older
    # runs look different; setting it shows as "<unset> -> value".
    entries = {k: v for k, v in _flatten(config_dict).items() if not _excluded(k) and v is not None}
    entries.update({f"data_hashes.{name}": h for name, h in sorted(data_hashes.items())})
    entries["num_processes"] = int(num_processes)
    entries = dict(sorted(entries.items()))
    return {**entries, "hash": _hash(entries)}


def fingerprint_changes(old: dict, new: dict) -> list[str]:
    """"key: old -> new" for every key whose value differs (absent values shown as <unset>)."""
    unset = object()
    changes = []
    # the config's own keys first; the resolved method (defaults a version changed) after them
    for key in sorted((set(old) | set(new)) - {"hash"}, key=lambda k: (k.startswith("method_resolved."), k)):
        a, b = old.get(key, unset), new.get(key, unset)
        if a != b:
            show = lambda v: "<unset>" if v is unset else repr(v)  # noqa: E731
            changes.append(f"{key}: {show(a)} -> {show(b)}")
    return changes


def check_fingerprint(run_dir: str | Path, fingerprint: dict, what: str) -> bool:
    """Refuse to continue in `run_dir` if it was made with a different training config.

    `what` names what the folder holds ('a finished run' or 'a checkpoint'). Returns True if a
    matching fingerprint was found, False if there is none; raises ConfigError if it differs.
    """
    path = Path(run_dir) / FINGERPRINT_FILE
    if not path.is_file():
        return False
    try:
        stored = json.loads(path.read_text())
        if not isinstance(stored, dict):
            raise ValueError("not a mapping")
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} is unreadable ({err}); delete {run_dir} to start afresh, "
                          "or use a new out= folder") from None
    if stored.get("hash") == fingerprint.get("hash"):
        return True
    # Older fingerprints listed unset (None) options; they mean the same as an absent key.
    changes = fingerprint_changes({k: v for k, v in stored.items() if v is not None}, fingerprint)
    if not changes:
        return True
    listed = ", ".join(changes[:_MAX_LISTED_CHANGES])
    if len(changes) > _MAX_LISTED_CHANGES:
        listed += f", +{len(changes) - _MAX_LISTED_CHANGES} more"
    raise ConfigError(f"{run_dir} holds {what} made with a different config ({listed}); "
                      f"use a new out= folder, or delete {run_dir} to start afresh")


def weights_hashes(model_dir: str | Path) -> dict[str, str]:
    """The sha256 of each weights file of a saved model (safetensors; an adapter's too)."""
    from unlearn.data.formats import file_sha256

    folder = Path(model_dir)
    return {p.name: file_sha256(p) for p in sorted(folder.glob("*.safetensors"))}


def check_sealed(run_dir: str | Path, state: dict) -> None:
    """A finished run is reused only while its folder still holds what it finished with: the
    fingerprint.json it wrote (same hash as the one recorded at the end) and the same weights. A file
    edited or replaced since is a one-line error naming it. Runs made before these records are not checked."""
    run_dir = Path(run_dir)
    fix = f"delete {run_dir} to train again, or use a new out= folder"
    recorded = state.get("fingerprint_hash")
    if recorded is not None:
        stored = json.loads((run_dir / FINGERPRINT_FILE).read_text())
        if stored.get("hash") != recorded or _hash({k: v for k, v in stored.items() if k != "hash"}) != recorded:
            raise ConfigError(f"{run_dir / FINGERPRINT_FILE} no longer matches the run {run_dir} finished "
                              f"(edited after the run?), so its model cannot be trusted to be this config's; {fix}")
    weights = state.get("weights")
    if weights is not None:
        now = weights_hashes(run_dir / "model")
        changed = sorted(set(weights) ^ set(now) | {k for k in weights if k in now and weights[k] != now[k]})
        if changed:
            raise ConfigError(f"{run_dir / 'model' / changed[0]} changed since the run finished (its weights are not "
                              f"the ones this run trained); {fix}")


def write_fingerprint(run_dir: str | Path, fingerprint: dict) -> None:
    """Write run_dir/fingerprint.json atomically (temporary file, then rename)."""
    path = Path(run_dir) / FINGERPRINT_FILE
    with disk_errors(str(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, dict(sorted(fingerprint.items())))


# ----------------------------------------------------------------------------------------------
# One run per folder


class RunLock:
    """An exclusive lock on run_dir/.lock (``fcntl.flock``), so two runs never share a folder.

    Use as a context manager (raises UnlearnError if another process holds it), or, when only one
    process of a multi-process job locks, call :meth:`acquire` (returns the error message instead of
    raising, to broadcast) and :meth:`release`. The kernel drops the lock when the process exits or
    is killed, so there is never a stale lock; the .lock file itself stays (removing it would race). A
    clean release empties the file, so a holder record found on acquiring is a run that was killed: a
    warning says the folder is taken over.
    Filesystems without flock support (some network mounts) run unlocked (`locked` stays False).
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.locked = False
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; return None on success, or a one-line message saying who holds it."""
        import fcntl

        if self._fd is not None:
            return None
        try:
            with disk_errors(f"the lock file {self.path}"):
                self.run_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except UnlearnError as err:
            return str(err)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = _describe_holder(fd)
                os.close(fd)
                return (f"{self.run_dir} is in use by another run ({holder}); "
                        "wait for it to finish or choose another out=")
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                os.close(fd)
                return disk_message(f"the lock file {self.path}", err)
            self._fd = fd  # no flock on this filesystem: run unlocked
            return None
        self._fd, self.locked = fd, True
        if os.pread(fd, 1, 0):  # a holder record that was never cleared: its run was killed
            warn(f"{self.run_dir} was left locked by a run that stopped without finishing "
                 f"({_describe_holder(fd)}); taking the folder over")
        _write_holder(fd)
        return None

    def release(self) -> None:
        """Drop the lock (safe to call twice, or without holding it)."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        if self.locked:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # released cleanly: the next run finds no holder record
                fcntl.flock(fd, fcntl.LOCK_UN)
        self.locked = False
        os.close(fd)

    def __enter__(self) -> RunLock:
        message = self.acquire()
        if message:
            raise UnlearnError(message)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:  # a dropped lock object must not keep the folder locked
            self.release()
        except Exception:
            pass


def _write_holder(fd: int) -> None:
    """Record who holds the lock (pid, host, start time) in the lock file; best effort."""
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)


def _describe_holder(fd: int) -> str:
    """'pid 1234, started 2025-01-01 12:00:00' from the lock file, or 'pid unknown'."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        where = "" if info.get("host") in (None, socket.gethostname()) else f" on {info['host']}"
        return f"pid {info['pid']}{where}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "pid unknown"
