"""Reference-model strategies (SPEC section 2). The reference is the model before unlearning.

- `copy`: a frozen copy in memory; gives everything (log-probs, logits, hidden states).
- `adapter`: under LoRA, the same weights with the adapter disabled and dropout off: no second copy.
- `cached`: per-token log-probs of every sample computed once before training (enough for NPO, DPO,
  TNPO; not for KL or hidden-state terms, which need full distributions).
- `auto`: adapter under LoRA, else cached when log-probs suffice, else copy.

Every strategy answers `outputs(stream, batch, needs)` with the fields of the stream's Outputs that
start with `ref_`, computed in one forward pass.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch

from unlearn.core.batching import IGNORE_INDEX, collate
from unlearn.core.errors import ConfigError
from unlearn.engine.forward import forward_with_hidden
from unlearn.losses.logprobs import token_logps_from_logits
from unlearn.methods.base import Method, Needs


def reference_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor], needs: Needs) -> dict[str, Any]:
    """One no-grad forward pass of a reference model; returns the ref_* fields that `needs` asks for."""
    out, hidden = forward_with_hidden(model, batch, needs.ref_hidden_layers)
    fields: dict[str, Any] = {}
    if needs.ref_logps:
        fields["ref_token_logps"] = token_logps_from_logits(out.logits, batch["labels"])[0]
    if needs.ref_logits:
        fields["ref_logits"] = out.logits[:, :-1, :]
    if hidden:
        fields["ref_hidden"] = hidden
    return fields


class Reference:
    runs_model = True  # a forward pass of a reference model per batch (cached log-probs: none)

    def outputs(self, stream: str, batch: dict[str, torch.Tensor], needs: Needs) -> dict[str, Any]:
        raise NotImplementedError

    def parameters(self) -> list[torch.nn.Parameter]:
        """Parameters the reference holds of its own (memory beyond the trained model)."""
        return []


class FrozenCopy(Reference):
    """A frozen copy of the model's weights at the start of unlearning."""

    def __init__(self, model: torch.nn.Module):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def outputs(self, stream: str, batch: dict[str, torch.Tensor], needs: Needs) -> dict[str, Any]:
        return reference_forward(self.model, batch, needs)

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())


@contextlib.contextmanager
def _adapter_off(peft_model: Any):
    """The base model: adapter disabled and dropout off (eval mode), restored afterwards."""
    was_training = peft_model.training
    peft_model.eval()
    try:
        with peft_model.disable_adapter():
            yield peft_model
    finally:
        peft_model.train(was_training)


class AdapterDisabled(Reference):
    """LoRA: the reference is the trained model itself with its adapter switched off."""

    def __init__(self, peft_model: Any):
        self.model = peft_model

    @torch.no_grad()
    def outputs(self, stream: str, batch: dict[str, torch.Tensor], needs: Needs) -> dict[str, Any]:
        with _adapter_off(self.model) as base:
            return reference_forward(base, batch, needs)


class CachedLogps(Reference):
    """Per-token target log-probs of every sample of the streams that need them, computed once."""

    runs_model = False

    def __init__(self, model: torch.nn.Module, encoded: dict[str, list[dict[str, Any]]], pad_id: int,
                 batch_size: int = 32):
        self.values: dict[str, list[torch.Tensor]] = {}
        context = _adapter_off(model) if hasattr(model, "disable_adapter") else contextlib.nullcontext(model)
        device = next(model.parameters()).device
        with torch.no_grad(), context as base:
            was_training = base.training
            base.eval()
            for stream, samples in encoded.items():
                rows: list[torch.Tensor] = []
                for start in range(0, len(samples), batch_size):
                    batch = {k: v.to(device) for k, v in collate(samples[start:start + batch_size], pad_id).items()}
                    logits = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    token_logps, mask = token_logps_from_logits(logits, batch["labels"])
                    rows.extend(t[m].cpu() for t, m in zip(token_logps, mask))
                self.values[stream] = rows
            base.train(was_training)

    def outputs(self, stream: str, batch: dict[str, torch.Tensor], needs: Needs) -> dict[str, Any]:
        if needs.reference_model:
            raise ConfigError("cached reference log-probs cannot give logits or hidden states; use method.reference=copy")
        mask = batch["labels"][:, 1:] != IGNORE_INDEX
        ref = torch.zeros(mask.shape, dtype=torch.float32)
        for row, i in enumerate(batch["index"].tolist()):
            ref[row, mask[row].cpu()] = self.values[stream][i]
        return {"ref_token_logps": ref.to(batch["input_ids"].device)}


def make_reference(strategy: str | None, method: Method, model: torch.nn.Module,
                   encoded: dict[str, list[dict[str, Any]]], pad_id: int) -> Reference | None:
    if strategy is None:
        return None
    if strategy == "copy":
        return FrozenCopy(model)
    if strategy == "adapter":
        return AdapterDisabled(model)
    streams = {s: encoded[s] for s in method.streams if method.needs(s).ref_logps}
    return CachedLogps(model, streams, pad_id)
