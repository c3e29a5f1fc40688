"""Checkpoints without pickle: every state is safetensors or JSON, so resuming a folder someone else
wrote cannot run code.

`checkpoints/step-N/` holds `trainable.safetensors` (the parameters that train: all of them, the LoRA
adapter, or RMU's chosen modules), `optimizer.safetensors` + `optimizer.json`, `scheduler.json`,
`terms.safetensors` / `transforms.safetensors` (e.g. RMU's random direction, GRU's moving average),
`rng-rankR.safetensors` per process, and last `trainer_state.json`, the marker of a complete folder.
A folder is written under a temporary name and renamed into place, so a crash or a full disk never
leaves a half-written checkpoint that looks complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from unlearn.core.atomic import commit_folder, disk_errors, temp_sibling
from unlearn.core.errors import UnlearnError
from unlearn.engine import sharding
from unlearn.engine.collective import on_main
from unlearn.engine.state_io import (
    load_named_optimizer_state,
    load_optimizer_state,
    load_scheduler_state,
    load_tensors,
    named_optimizer_state_to_files,
    optimizer_state_to_files,
    rng_state,
    save_tensors,
    scheduler_state_to_json,
    set_rng_state,
)
from unlearn.methods.base import Method

MARKER = "trainer_state.json"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (with their marker), oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("step-*") if (p / MARKER).is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def trainable_names(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def _indexed(prefix: str, states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{i}.{k}": v for i, state in enumerate(states) for k, v in state.items()}


def _split(tensors: dict[str, torch.Tensor], count: int) -> list[dict[str, torch.Tensor]]:
    out: list[dict[str, torch.Tensor]] = [{} for _ in range(count)]
    for key, value in tensors.items():
        i, name = key.split(".", 1)
        out[int(i)][name] = value
    return out


def save_checkpoint(accelerator: Any, run_dir: Path, step: int, model: torch.nn.Module, optimizer: Any,
                    scheduler: Any, method: Method, keep: int) -> Path:
    """Write checkpoints/step-N atomically (every process writes its RNG state), prune old ones."""
    final = run_dir / "checkpoints" / f"step-{step:06d}"
    tmp = temp_sibling(final, tag="all")
    unwrapped = accelerator.unwrap_model(model)
    if sharding.is_sharded(unwrapped):  # FSDP2: weights and optimizer state gathered to whole tensors
        state = sharding.full_model_state(unwrapped, trainable_only=True)
        optimizer = sharding.full_optimizer_state(unwrapped, optimizer)
    else:
        state = accelerator.get_state_dict(model)  # gathers sharded weights on every process
    try:
        on_main(accelerator, _fresh_folder, tmp, final)
        with disk_errors(f"checkpoint {final}"):
            save_tensors(tmp / f"rng-rank{accelerator.process_index}.safetensors", rng_state())
        accelerator.wait_for_everyone()
        on_main(accelerator, _write_main_files, tmp, final, state, unwrapped, optimizer, scheduler, method, step,
                accelerator.num_processes)
        on_main(accelerator, _prune, run_dir, keep)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left behind
        raise
    return final


def _fresh_folder(tmp: Path, final: Path) -> None:
    with disk_errors(f"checkpoint {final}"):
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)


def _prune(run_dir: Path, keep: int) -> None:
    for old in list_checkpoints(run_dir)[:-max(keep, 1)]:
        # Unmark first: a kill mid-delete must not leave a half-deleted folder that looks complete.
        (old / MARKER).unlink(missing_ok=True)
        shutil.rmtree(old, ignore_errors=True)


def _write_main_files(tmp: Path, final: Path, state: dict[str, torch.Tensor], unwrapped: torch.nn.Module,
                      optimizer: Any, scheduler: Any, method: Method, step: int, num_processes: int) -> None:
    """Everything but the per-process RNG states; the marker last, then the rename."""
    with disk_errors(f"checkpoint {final}"):
        save_tensors(tmp / "trainable.safetensors", {n: state[n] for n in trainable_names(unwrapped)})
        if isinstance(optimizer, dict):  # gathered by name (sharded training)
            named_optimizer_state_to_files(optimizer, tmp, "optimizer")
        else:
            optimizer_state_to_files(optimizer, tmp, "optimizer")
        (tmp / "scheduler.json").write_text(json.dumps(scheduler_state_to_json(scheduler)))
        save_tensors(tmp / "terms.safetensors", _indexed("", [t.term.state_dict() for t in method.terms]))
        save_tensors(tmp / "transforms.safetensors", _indexed("", [t.state_dict() for t in method.transforms]))
        (tmp / MARKER).write_text(json.dumps({"step": step, "num_processes": num_processes}))
        commit_folder(tmp, final)


def load_checkpoint(accelerator: Any, folder: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any,
                    method: Method) -> int:
    """Restore everything `save_checkpoint` wrote; returns the step it was taken at."""
    unwrapped = accelerator.unwrap_model(model)
    weights = load_tensors(folder / "trainable.safetensors")
    expected = set(trainable_names(unwrapped))
    if set(weights) != expected:
        raise UnlearnError(f"checkpoint {folder} does not match the model's trainable parameters "
                           f"({len(set(weights) ^ expected)} differ); delete {folder.parent} to start afresh")
    if sharding.is_sharded(unwrapped):
        sharding.load_full_model_state(unwrapped, weights)
        sharding.load_full_optimizer_state(unwrapped, optimizer, load_named_optimizer_state(folder, "optimizer"))
    else:
        unwrapped.load_state_dict(weights, strict=False)
        load_optimizer_state(optimizer, folder, "optimizer")
    load_scheduler_state(scheduler, json.loads((folder / "scheduler.json").read_text()))
    for term, state in zip(method.terms, _split(load_tensors(folder / "terms.safetensors"), len(method.terms))):
        if state:
            term.term.load_state_dict(state)
    for transform, state in zip(method.transforms,
                                _split(load_tensors(folder / "transforms.safetensors"), len(method.transforms))):
        if state:
            transform.load_state_dict(state)
    # load_tensors raises a one-line error when this process's RNG file is missing: without it the
    # resume would not be identical.
    set_rng_state(load_tensors(folder / f"rng-rank{accelerator.process_index}.safetensors"))
    return int(json.loads((folder / MARKER).read_text())["step"])
