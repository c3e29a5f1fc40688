"""Where models run, which process speaks, and how processes share evaluation work."""

from __future__ import annotations

from typing import Any


def device() -> str:
    """This process's device: its own GPU under a launcher (cuda:LOCAL_RANK), "cuda" or "cpu" otherwise."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    state = _state()
    return str(state.device) if state.num_processes > 1 else "cuda"


def is_main_process() -> bool:
    """True in the one process that prints and writes shared files (always, without torchrun/accelerate)."""
    return _state().is_main_process


def process_share() -> tuple[int, int]:
    """(this process's index, the number of processes): under torchrun / accelerate launch each takes every
    N-th item of a pass (unlearn.eval.evaluator); (0, 1) otherwise."""
    state = _state()
    return state.process_index, state.num_processes


def gather_items(items: list[Any]) -> list[Any]:
    """Every process's `items`, concatenated in process order, on every process (one process: `items`)."""
    if _state().num_processes == 1:
        return items
    from accelerate.utils import gather_object

    return gather_object(items)


def wait_for_everyone() -> None:
    """A barrier across the processes of a launch (nothing alone)."""
    state = _state()
    if state.num_processes > 1:
        state.wait_for_everyone()


def _state() -> Any:
    """Accelerate's process state, as training's Accelerator(cpu=...) sets it up: without a GPU, processes
    launched by torchrun join one gloo group (a plain PartialState() there would leave each one alone)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
