"""Where models run and which process speaks."""

from __future__ import annotations


def device() -> str:
    """"cuda" when a GPU is visible, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_main_process() -> bool:
    """True in the one process that prints and writes shared files (always, without torchrun/accelerate)."""
    from accelerate import PartialState

    return PartialState().is_main_process
