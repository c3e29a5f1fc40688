"""The `unlearn` command: one small function per command in `unlearn.cli.commands.COMMANDS`, each a thin
layer over a Python API (`unlearn.api`; `unlearn.demo` and `unlearn.sweep` for those two; the listing
commands metrics, config and methods read the registries directly). Errors the user can fix are printed
on one line (no traceback) and the exit status is 2.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

from unlearn.cli.parser import build_parser, parse
from unlearn.core.errors import UnlearnError

__all__ = ["build_parser", "main", "run"]


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return 0
    from unlearn.core.threads import apply_threads

    apply_threads(args.threads)  # before torch is imported: OpenMP reads its thread count once
    _quiet_libraries()
    import unlearn.api  # noqa: F401  (registers the evidence layer's suites, which `eval` and `metrics` list)
    from unlearn.cli.commands import COMMANDS

    COMMANDS[args.command](args)
    return 0


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # libraries' own bars (GGUF conversion, datasets); ours pass disable=False
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Every warning on one line of stderr: `unlearn: warning: ...` (ours say what was done about it). A
    library's deprecation or future-change warning is not the user's business: it is kept for the run
    folder's library_warnings.log instead."""
    from unlearn.core.errors import LIBRARY_WARNINGS, QUIET_CATEGORIES, UnlearnWarning

    if os.environ.get("RANK", "0") != "0":  # several processes (torchrun, accelerate): the main one speaks
        return
    text = " ".join(str(message).split())
    if not issubclass(category, UnlearnWarning) and issubclass(category, QUIET_CATEGORIES):
        LIBRARY_WARNINGS.append(f"{category.__name__}: {text} ({filename}:{lineno})")
        return
    prefix = "" if issubclass(category, UnlearnWarning) else f"{category.__name__}: "
    print(f"unlearn: warning: {prefix}{text}", file=sys.stderr)


def _os_message(err: OSError) -> str:
    """A write-only failure (full disk, read-only disk) says 'cannot write'; one that could come from
    reading too (permissions, a file where a folder should be) names the path without guessing."""
    import errno

    from unlearn.core.atomic import disk_message

    where = str(err.filename or "a file")
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
        return disk_message(where, err)
    return f"cannot use {where} ({err.strerror}); check that the path is right and can be read and written"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    from unlearn.core.atomic import DISK_ERRNOS
    from unlearn.core.errors import UnlearnWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", UnlearnWarning)  # each run's warnings are its own, never deduplicated
        warnings.showwarning = _show_warning
        try:
            return run(argv)
        except BrokenPipeError:
            # The reader closed the pipe (`unlearn methods | head`): stop quietly, as command-line tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except UnlearnError as err:
            if not getattr(err, "reported_by_main", False):
                print(f"unlearn: error: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
        except OSError as err:
            if err.errno not in DISK_ERRNOS:
                raise
            # A disk problem (full, read-only, a file where a folder should be) that no command caught first.
            print(f"unlearn: error: {_os_message(err)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("unlearn: interrupted; the same command resumes a training run from its last checkpoint "
                  "(train.save_every) and reuses every cached evaluation result", file=sys.stderr)
            return 130
