"""Work done by the main process alone, without leaving the others waiting.

Files are written by the main process only. If such a write fails there (a full disk, a folder in
use), the other processes must not wait forever at the next barrier: `on_main` shares the outcome, and
every process raises the same one-line error.
"""

from __future__ import annotations

from typing import Any, Callable

from unlearn.core.errors import UnlearnError


def on_main(accelerator: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` on the main process; its result there, None on the others. An UnlearnError
    raised by `fn` is raised on every process (the same class and message)."""
    result, failure = None, None
    if accelerator.is_main_process:
        try:
            result = fn(*args)
        except UnlearnError as err:
            failure = err
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        box = [None if failure is None else (type(failure), str(failure))]
        broadcast_object_list(box)
        if failure is None and box[0] is not None:
            cls, message = box[0]
            failure = cls(message)
            failure.reported_by_main = True  # the CLI prints it once, on the main process
    if failure is not None:
        raise failure
    return result
