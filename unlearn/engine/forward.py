"""A forward pass that also captures the output of chosen decoder layers.

Hidden states come from forward hooks on the decoder layers themselves, not from
`output_hidden_states`: for the last layer, transformers returns the hidden state *after* the final
norm there, which is not that layer's output (RMU steers the layer's output).
"""

from __future__ import annotations

from typing import Any

import torch


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's list of decoder layers (through DDP / peft wrappers): the ModuleList whose length
    is the config's number of hidden layers."""
    config = next((m.config for m in model.modules() if hasattr(getattr(m, "config", None), "num_hidden_layers")),
                  None)
    if config is None:
        raise ValueError("cannot find the model's config (num_hidden_layers) to locate its decoder layers")
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == config.num_hidden_layers:
            return module
    raise ValueError(f"cannot find a list of {config.num_hidden_layers} decoder layers in the model")


def forward_with_hidden(model: torch.nn.Module, batch: dict[str, torch.Tensor], layers: tuple[int, ...]
                        ) -> tuple[Any, dict[int, torch.Tensor]]:
    """model(batch) and {layer: [B, L, H] output of that decoder layer} for each requested layer."""
    hidden: dict[int, torch.Tensor] = {}
    handles = []
    if layers:
        blocks = decoder_layers(model)
        for layer in layers:
            def hook(module, args, output, layer=layer):
                hidden[layer] = output[0] if isinstance(output, (tuple, list)) else output
            handles.append(blocks[layer].register_forward_hook(hook))
    try:
        result = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    return result, hidden
