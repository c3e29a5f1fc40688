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
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unlearn.errors import ConfigError, UnlearnError

FINGERPRINT_FILE = "fingerprint.json"
LOCK_FILE = ".lock"

# Config keys that do not change the trained weights, so changing them must not invalidate a run or
# checkpoint: where the run lives, evaluation, and checkpoint/logging cadence. A key ending in "."
# excludes everything under it.
FINGERPRINT_EXCLUDED = (
    "out",
    "eval.",
    "train.save_every",
    "train.keep_checkpoints",
    "train.log_every",
    "train.progress_every",
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
    entries = {k: v for k, v in _flatten(config_dict).items() if not _excluded(k)}
    entries.update({f"data_hashes.{name}": h for name, h in sorted(data_hashes.items())})
    entries["num_processes"] = int(num_processes)
    entries = dict(sorted(entries.items()))
    return {**entries, "hash": _hash(entries)}


def fingerprint_changes(old: dict, new: dict) -> list[str]:
    """"key: old -> new" for every key whose value differs (absent values shown as <unset>)."""
    unset = object()
    changes = []
    for key in sorted((set(old) | set(new)) - {"hash"}):
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
    changes = fingerprint_changes(stored, fingerprint) or ["fingerprint format changed"]
    listed = ", ".join(changes[:_MAX_LISTED_CHANGES])
    if len(changes) > _MAX_LISTED_CHANGES:
        listed += f", +{len(changes) - _MAX_LISTED_CHANGES} more"
    raise ConfigError(f"{run_dir} holds {what} made with a different config ({listed}); "
                      f"use a new out= folder, or delete {run_dir} to start afresh")


def write_fingerprint(run_dir: str | Path, fingerprint: dict) -> None:
    """Write run_dir/fingerprint.json atomically (temporary file, then rename)."""
    path = Path(run_dir) / FINGERPRINT_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with disk_errors(str(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# One run per folder


class RunLock:
    """An exclusive lock on run_dir/.lock (``fcntl.flock``), so two runs never share a folder.

    Use as a context manager (raises UnlearnError if another process holds it), or, when only one
    process of a multi-process job locks, call :meth:`acquire` (returns the error message instead of
    raising, to broadcast) and :meth:`release`. The kernel drops the lock when the process exits or
    is killed, so there is never a stale lock; the .lock file itself stays (removing it would race).
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
                return _disk_message(f"the lock file {self.path}", err)
            self._fd = fd  # no flock on this filesystem: run unlocked
            return None
        self._fd, self.locked = fd, True
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


# ----------------------------------------------------------------------------------------------
# Disk errors and atomic folders

_FIXES = {
    errno.ENOSPC: "free some space or choose another out=",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose another out=",
    errno.EROFS: "choose another out= on a writable disk",
    errno.EACCES: "make the folder writable or choose another out=",
    errno.EPERM: "make the folder writable or choose another out=",
}


def _os_errno(err: BaseException) -> int | None:
    """The errno of an OSError, or of an I/O failure reported by safetensors ('os error 28')."""
    if isinstance(err, OSError):
        return err.errno
    if type(err).__name__ == "SafetensorError":
        found = re.search(r"os error (\d+)", str(err))
        return int(found.group(1)) if found else None
    return None


def _disk_message(what: str, err: BaseException) -> str:
    """'cannot write <what> (<reason>); <fix>' for an OSError-like `err`."""
    code = _os_errno(err)
    reason = os.strerror(code) if code else (str(err).splitlines() or ["unknown error"])[0]
    fix = _FIXES.get(code, "check that the folder can be written, or choose another out=")
    return f"cannot write {what} ({reason}); {fix}"


@contextlib.contextmanager
def disk_errors(what: str) -> Iterator[None]:
    """Turn OSError (and safetensors I/O errors) raised inside into a one-line UnlearnError:
    "cannot write <what> (No space left on device); free some space or choose another out="."""
    try:
        yield
    except UnlearnError:
        raise
    except Exception as err:
        if _os_errno(err) is None and not isinstance(err, OSError):
            raise
        raise UnlearnError(_disk_message(what, err)) from err


def temp_sibling(final: str | Path, tag: str | int | None = None) -> Path:
    """The temporary folder next to `final`: '.tmp-<name>-<tag>' (tag defaults to the pid).
    Multi-process jobs that write one folder together pass a tag shared by all processes."""
    final = Path(final)
    return final.parent / f".tmp-{final.name}-{os.getpid() if tag is None else tag}"


def commit_folder(tmp: str | Path, final: str | Path) -> None:
    """Move the finished folder `tmp` to `final`, replacing an old `final`. An old folder is moved
    aside ('.old-<name>-<pid>') before the rename and deleted after, so a crash leaves either
    folder under a hidden name, never a half-replaced `final`."""
    tmp, final = Path(tmp), Path(final)
    old = final.parent / f".old-{final.name}-{os.getpid()}"
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    try:
        tmp.rename(final)
    except OSError:
        if old.exists() and not final.exists():
            old.rename(final)  # put the old folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(final: str | Path, tag: str | int | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder to write into; on success it becomes `final` (replacing an
    old one), on any exception it is deleted and the exception re-raised."""
    tmp = temp_sibling(final, tag)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        commit_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_temp_folders(parent: str | Path) -> int:
    """Delete '.tmp-*' and '.old-*' leftovers of killed runs in `parent`; returns how many.
    Call it only while holding the folder's RunLock (another live run could own them otherwise)."""
    parent = Path(parent)
    if not parent.is_dir():
        return 0
    stale = [p for p in parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)
