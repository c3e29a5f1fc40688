"""Run `unlearn ARGS` in this process and kill it with SIGKILL at a named point (for tests/test_faults.py).

    python tests/fault_driver.py POINT N MARKER -- unlearn ARGS...

POINT is one of KILL_POINTS and N which of its occurrences (the Nth step, checkpoint, cached
evaluation batch): the process kills itself there (no cleanup, no `finally`, as a power cut or the OOM
killer would), after writing POINT to the file MARKER so the test knows it died there.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable


def _die(marker: str, point: str) -> None:
    Path(marker).write_text(point)
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_on(owner: Any, name: str, nth: int, marker: str, point: str, after: bool = False,
             when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Replace owner.name so that its nth call (counting calls for which `when` holds) kills the
    process, before the real call runs or, with `after`, once it has returned."""
    real = getattr(owner, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit = False
        if when(*args, **kwargs):
            calls[0] += 1
            hit = calls[0] == nth
        if hit and not after:
            _die(marker, point)
        out = real(*args, **kwargs)
        if hit:
            _die(marker, point)
        return out

    setattr(owner, name, wrapper)


def install(point: str, nth: int, marker: str) -> None:
    import unlearn.core.cache as cache
    import unlearn.engine.checkpoint as checkpoint
    import unlearn.engine.step as step
    import unlearn.engine.trainer as trainer
    import unlearn.models.loading as loading

    if point == "training":  # in the middle of step N
        _kill_on(step.StepRunner, "run", nth, marker, point)
    elif point == "checkpointing":  # the Nth checkpoint: weights and optimizer written, no marker yet
        _kill_on(checkpoint, "optimizer_state_to_files", nth, marker, point, after=True)
    elif point == "saving":  # the final model's weights written to its temporary folder, not renamed
        _kill_on(loading, "make_tokenizer_config_portable", nth, marker, point)
    elif point == "marking":  # model/ saved, the run not yet marked finished (train_state.json)
        _kill_on(trainer, "write_json", nth, marker, point, when=lambda path, *a, **k: str(path).endswith(
            trainer.DONE_FILE))
    elif point == "evaluating":  # N batches of the evaluation cached, the rest not computed
        _kill_on(cache.PassCache, "add", nth, marker, point, after=True)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


# Each point, and how many occurrences a run of tests/test_faults.py has of it (the test draws N from them).
KILL_POINTS = {"training": 8, "checkpointing": 3, "saving": 1, "marking": 1, "evaluating": 20}

if __name__ == "__main__":
    point, nth, marker, dashes, *argv = sys.argv[1:]
    assert dashes == "--", "usage: fault_driver.py POINT N MARKER -- ARGS"
    install(point, int(nth), marker)
    from unlearn.cli import main

    raise SystemExit(main(argv))
