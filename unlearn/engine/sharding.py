"""Sharded training on PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`): `train.shard=fsdp2`.

Each decoder layer is its own unit and the root holds the rest (embeddings, final norm, head): a process
keeps 1/N of every weight, gradient and optimizer state, and gathers one layer's weights at a time for its
forward and backward. The same code runs on GPUs (NCCL) and on CPU processes (gloo), which is how the
tests exercise it (`torchrun --nproc_per_node 2`). Under it:
- gradients are reduce-scattered and averaged over processes, as DDP averages them, so the engine's loss
  normalisation (engine/step.py) holds unchanged;
- a frozen-copy reference is sharded like the model; cached log-probs are computed before sharding;
  LoRA's adapter-disabled reference works as it is (the adapter is switched off, not removed);
- the model's and the optimizer's states are gathered to full tensors for checkpoints and for the saved
  model (safetensors, as everywhere in the package). torch.distributed.checkpoint would write each process's
  shard, but its metadata file is a pickle, which this package never writes or reads;
- refused, with the reason: gradient transforms (GRU, SURE, DGS: they compare whole gradients, and each
  process holds a shard) and evaluation during training (the main process alone would need whole weights).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from unlearn.core.errors import ConfigError
from unlearn.engine.forward import decoder_layers


def is_sharded(model: torch.nn.Module) -> bool:
    """True for a model that fully_shard has wrapped (its parameters are DTensors)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def check_fsdp2(method_name: str, transforms: bool, every_steps: int | None) -> None:
    """What FSDP2 cannot run, and why; checked before any model loads."""
    if transforms:
        raise ConfigError(f"method {method_name}: gradient transforms (GRU, SURE, DGS) compare whole gradients, and "
                          "under train.shard=fsdp2 each process holds a shard of each; run it without sharding (DDP)")
    if every_steps:
        raise ConfigError("eval.every_steps evaluates the whole model on the main process: not under "
                          "train.shard=fsdp2; evaluate the saved model instead")
    if "WORLD_SIZE" not in os.environ:
        raise ConfigError("train.shard=fsdp2 runs under a distributed launcher: torchrun --nproc_per_node N -m "
                          "unlearn ... (or accelerate launch), N processes sharing the model")


def shard(model: torch.nn.Module) -> torch.nn.Module:
    """fully_shard each decoder layer, then the root, over every process of the default process group."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if not dist.is_initialized():
        raise ConfigError("train.shard=fsdp2 runs under a distributed launcher: torchrun --nproc_per_node N -m unlearn "
                          "... (or accelerate launch), N processes sharing the model")
    device = next(model.parameters()).device.type
    mesh = init_device_mesh(device, (dist.get_world_size(),))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **kwargs)


def full_model_state(model: torch.nn.Module, trainable_only: bool = False) -> dict[str, torch.Tensor]:
    """The whole weights as plain CPU tensors (every process takes part; each gets them)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(model, options=_options())
    # a tied weight (the head sharing the embeddings) once, under the name the model keeps, as a whole
    # model's save would have it
    every = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    kept = {n for n, p in model.named_parameters() if p.requires_grad or not trainable_only}
    return {k: v for k, v in state.items() if k in kept or (k not in every and not trainable_only)}


def load_full_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Whole tensors (e.g. a checkpoint's trainable parameters, read by every process) into the shards."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_options(strict=False))


def full_optimizer_state(model: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """The optimizer's state gathered to whole tensors, keyed by parameter name (every process takes part)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, _inner(optimizer), options=_options())


def load_full_optimizer_state(model: torch.nn.Module, optimizer: Any, state: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, _inner(optimizer), state, options=_options())


def _inner(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside Accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def local_norm(norm: Any) -> float:
    """A gradient norm as a float: clip_grad_norm_ over sharded gradients returns a DTensor of the total."""
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
