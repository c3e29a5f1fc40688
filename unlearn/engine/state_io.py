"""Checkpoint state without pickle: safetensors for tensors, JSON for everything else.

Loading a pickle runs whatever code the file names, so a run folder written by someone else could run
code when resumed. Nothing here reads or writes pickle: optimizer state, scheduler state and RNG
states are split into tensors (safetensors) and plain values (JSON), and rebuilt from those.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from unlearn.core.atomic import disk_errors, write_json
from unlearn.core.errors import UnlearnError

# ----------------------------------------------------------------------------------------------
# Tensors


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Write `tensors` to a safetensors file (made contiguous; tensors sharing storage are cloned).
    `metadata` values are stored as strings. Disk errors become one-line UnlearnErrors."""
    from safetensors.torch import save_file

    seen: set[tuple[int, int]] = set()
    out = {}
    for name, t in tensors.items():
        t = t.detach()
        key = (t.untyped_storage().data_ptr(), t.device.index or 0) if t.numel() else None
        if key in seen:
            t = t.clone()
        elif key is not None:
            seen.add(key)
        out[name] = t.contiguous()
    meta = {str(k): str(v) for k, v in (metadata or {}).items()} or None
    with disk_errors(str(path)):
        save_file(out, str(path), metadata=meta)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file onto the CPU; a missing or damaged file is an UnlearnError."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise UnlearnError(f"{path} is missing; the checkpoint is incomplete, delete its folder to start afresh")
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # SafetensorError, OSError
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise UnlearnError(f"{path} cannot be read ({reason}); delete its checkpoint folder to start afresh") from None


def _write_json(path: Path, data: Any) -> None:
    with disk_errors(str(path)):
        write_json(path, data, indent=1)


def _read_json(path: Path) -> Any:
    """Read a JSON file; a missing or damaged file is an UnlearnError."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UnlearnError(f"{path} cannot be read ({err}); delete its checkpoint folder to start afresh") from None


# ----------------------------------------------------------------------------------------------
# Optimizer


def optimizer_state_to_files(optimizer: torch.optim.Optimizer, folder: str | Path, prefix: str = "optimizer") -> None:
    """Write `optimizer.state_dict()` as <prefix>.safetensors (every tensor of state[i][key], keyed
    'state.<i>.<key>') and <prefix>.json (param_groups and non-tensor state values)."""
    folder = Path(folder)
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        plain[str(idx)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = value
            else:
                plain[str(idx)][key] = _check_json(value, f"optimizer state {idx}.{key}")
    groups = [{k: _check_json(v, f"optimizer param_groups.{k}") for k, v in g.items()} for g in sd["param_groups"]]
    save_tensors(folder / f"{prefix}.safetensors", tensors)
    _write_json(folder / f"{prefix}.json", {"param_groups": groups, "state": plain})


def load_optimizer_state(optimizer: torch.optim.Optimizer, folder: str | Path, prefix: str = "optimizer") -> None:
    """Rebuild the state_dict written by :func:`optimizer_state_to_files` and load it."""
    folder = Path(folder)
    tensors = load_tensors(folder / f"{prefix}.safetensors")
    saved = _read_json(folder / f"{prefix}.json")
    state: dict[int, dict[str, Any]] = {int(i): dict(values) for i, values in saved["state"].items()}
    for name, t in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = t
    current = optimizer.state_dict()["param_groups"]
    groups = [_restore_tuples(g, current[i] if i < len(current) else {}) for i, g in enumerate(saved["param_groups"])]
    try:
        optimizer.load_state_dict({"state": dict(sorted(state.items())), "param_groups": groups})
    except (ValueError, KeyError) as err:
        raise UnlearnError(f"the optimizer state in {folder} does not fit this model ({err}); "
                           "delete the checkpoint folder to start afresh") from None


def named_optimizer_state_to_files(state: dict[str, Any], folder: str | Path, prefix: str = "optimizer") -> None:
    """An optimizer state keyed by parameter name (torch.distributed.checkpoint's full optimizer state dict,
    as sharded training gathers it): tensors as '<name>|<key>' in <prefix>.safetensors, the rest in
    <prefix>.json."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for name, entry in state["state"].items():
        plain[name] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}|{key}"] = value
            else:
                plain[name][key] = _check_json(value, f"optimizer state {name}.{key}")
    groups = [{k: _check_json(v, f"optimizer param_groups.{k}") for k, v in g.items()} for g in state["param_groups"]]
    save_tensors(folder / f"{prefix}.safetensors", tensors)
    _write_json(folder / f"{prefix}.json", {"param_groups": groups, "state": plain, "keyed_by": "name"})


def load_named_optimizer_state(folder: str | Path, prefix: str = "optimizer") -> dict[str, Any]:
    """The state written by :func:`named_optimizer_state_to_files`."""
    folder = Path(folder)
    saved = _read_json(folder / f"{prefix}.json")
    if saved.get("keyed_by") != "name":
        raise UnlearnError(f"the optimizer state in {folder} was not written by sharded training; delete the "
                           "checkpoint folder to start afresh")
    state: dict[str, dict[str, Any]] = {name: dict(values) for name, values in saved["state"].items()}
    for key, tensor in load_tensors(folder / f"{prefix}.safetensors").items():
        name, field = key.rsplit("|", 1)
        state.setdefault(name, {})[field] = tensor
    return {"state": state, "param_groups": saved["param_groups"]}


def _check_json(value: Any, where: str) -> Any:
    """Return `value` if JSON can store it (tuples become lists), else raise TypeError."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where} = {value!r} cannot be stored as JSON") from None
    return value


def _restore_tuples(group: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples (AdamW's betas) into lists; turn them back where the live group has tuples."""
    return {k: tuple(v) if isinstance(v, list) and isinstance(like.get(k), tuple) else v for k, v in group.items()}


# ----------------------------------------------------------------------------------------------
# LR scheduler


def _jsonable(value: Any) -> bool:
    """True if json.dumps accepts `value`."""
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def scheduler_state_to_json(scheduler: Any) -> dict:
    """`scheduler.state_dict()` keeping only JSON-serialisable entries. LambdaLR's 'lr_lambdas'
    (functions) keep their slot: an entry JSON cannot hold becomes None, which LambdaLR skips."""
    sd = scheduler.state_dict()
    out = {k: v for k, v in sd.items() if k != "lr_lambdas" and _jsonable(v)}
    if "lr_lambdas" in sd:
        out["lr_lambdas"] = [fn if _jsonable(fn) else None for fn in sd["lr_lambdas"]]
    return json.loads(json.dumps(out))


def load_scheduler_state(scheduler: Any, state: dict) -> None:
    """Load a dict made by :func:`scheduler_state_to_json` (a copy: torch's loader mutates it)."""
    scheduler.load_state_dict(json.loads(json.dumps(state)))


# ----------------------------------------------------------------------------------------------
# Random number generators


def rng_state() -> dict[str, torch.Tensor]:
    """Every RNG a run draws from, as tensors (ready for :func:`save_tensors`): torch CPU and each
    CUDA device ('torch_cpu', 'torch_cuda.<i>', uint8), python `random` and numpy's global RNG."""
    import numpy as np

    out = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"torch_cuda.{i}"] = s.cpu()
    version, internal, gauss = random.getstate()
    out["python_version"] = torch.tensor([version], dtype=torch.int64)
    out["python_state"] = torch.tensor(internal, dtype=torch.int64)
    out["python_gauss"] = torch.tensor([] if gauss is None else [gauss], dtype=torch.float64)
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    if kind != "MT19937":
        raise TypeError(f"numpy RNG {kind!r} is not supported")
    out["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    out["numpy_pos"] = torch.tensor([pos, has_gauss], dtype=torch.int64)
    out["numpy_gauss"] = torch.tensor([cached], dtype=torch.float64)
    return out


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`rng_state` returned. CUDA states of devices this machine lacks are skipped."""
    import numpy as np

    torch.set_rng_state(state["torch_cpu"].to(torch.uint8).cpu())
    if torch.cuda.is_available():
        for name, s in state.items():
            if name.startswith("torch_cuda.") and int(name.split(".")[1]) < torch.cuda.device_count():
                torch.cuda.set_rng_state(s.to(torch.uint8).cpu(), device=int(name.split(".")[1]))
    gauss = state["python_gauss"].tolist()
    random.setstate((int(state["python_version"][0]), tuple(int(x) for x in state["python_state"].tolist()),
                     gauss[0] if gauss else None))
    pos, has_gauss = (int(x) for x in state["numpy_pos"].tolist())
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, pos, has_gauss, float(state["numpy_gauss"][0])))
