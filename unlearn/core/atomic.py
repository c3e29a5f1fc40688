"""Atomic writes and readable disk errors, shared by run folders, checkpoints, model saves and downloads.

- :func:`write_text` / :func:`write_json`: a file is written to a temporary sibling and renamed, so a
  crash never leaves half a file.
- :func:`atomic_folder` (:func:`temp_sibling` + :func:`commit_folder`): a folder is either complete or
  absent, never half-written.
- :func:`disk_errors`: full disks, read-only folders and the like become one-line :class:`UnlearnError`s.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unlearn.core.errors import UnlearnError


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically (temporary sibling file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def finite(data: Any) -> Any:
    """`data` with every NaN or infinite float replaced by None (strict JSON has no NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def write_json(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write strict JSON atomically: non-finite numbers become null, non-JSON values such as paths are
    written as strings."""
    write_text(path, json.dumps(finite(data), indent=indent, ensure_ascii=False, default=str, allow_nan=False) + "\n")


def json_line(data: Any) -> str:
    """One line of strict JSON (JSON lines files: logs, curves, samples): non-finite numbers as null."""
    return json.dumps(finite(data), ensure_ascii=False, default=str, allow_nan=False)


_FIXES = {
    errno.ENOSPC: "free some space or choose another out=",
    errno.EDQUOT: "free some space (disk quota exceeded) or choose another out=",
    errno.EFBIG: "free some space or raise the file-size limit (ulimit -f), or choose another out=",
    errno.EROFS: "choose another out= on a writable disk",
    errno.EACCES: "make the folder writable or choose another out=",
    errno.EPERM: "make the folder writable or choose another out=",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another out=",
    errno.EEXIST: "a file of that name is in the way: move it, or choose another out=",
    errno.EISDIR: "a folder of that name is in the way: move it, or choose another out=",
}
DISK_ERRNOS = frozenset(_FIXES)
"""Errors of the disk or of the output path, not of the program: the CLI reports them on one line."""


def _os_errno(err: BaseException) -> int | None:
    """The errno of an OSError, or of an I/O failure reported by safetensors ('os error 28')."""
    if isinstance(err, OSError):
        return err.errno
    if type(err).__name__ == "SafetensorError":
        found = re.search(r"os error (\d+)", str(err))
        return int(found.group(1)) if found else None
    return None


def disk_message(what: str, err: BaseException) -> str:
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
        raise UnlearnError(disk_message(what, err)) from err


def check_writable(folder: str | Path, what: str = "the output folder") -> Path:
    """Make `folder` (and its parents) and check a file can be written in it, before any work is done:
    a read-only folder, a full disk or a path under a file is a one-line error up front, not after a
    long run."""
    folder = Path(folder)
    with disk_errors(f"{what} {folder}"):
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"")
        finally:
            probe.unlink(missing_ok=True)
    return folder


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
