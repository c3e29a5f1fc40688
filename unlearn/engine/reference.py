"""Reference-model strategies (SPEC section 2).

The reference model is the model before unlearning. `copy`: a frozen copy in memory (needed for KL
terms, which compare full distributions). `cached`: sequence log-likelihoods computed once before
training for every sample of the streams that need them (enough for NPO; no second model in memory).
`auto` picks cached when no term needs reference logits.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from unlearn.data.tokenize import collate
from unlearn.errors import ConfigError
from unlearn.losses import sequence_logps_sum, token_logps_from_logits


class Reference:
    def logps_sum(self, stream: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class FrozenCopy(Reference):
    """A frozen copy of the model's weights at the start of unlearning."""

    def __init__(self, model: torch.nn.Module):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    @torch.no_grad()
    def logps_sum(self, stream: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        token_logps, mask = token_logps_from_logits(self.logits(batch), batch["labels"])
        return sequence_logps_sum(token_logps, mask)


class CachedLogps(Reference):
    """Sequence log-likelihoods of every sample, computed once with the initial model."""

    def __init__(self, model: torch.nn.Module, encoded: dict[str, list[dict[str, Any]]], pad_id: int,
                 batch_size: int = 32):
        self.values: dict[str, torch.Tensor] = {}
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            for stream, samples in encoded.items():
                chunks = []
                for start in range(0, len(samples), batch_size):
                    batch = collate(samples[start:start + batch_size], pad_id)
                    batch = {k: v.to(device) for k, v in batch.items()}
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    token_logps, mask = token_logps_from_logits(logits, batch["labels"])
                    chunks.append(sequence_logps_sum(token_logps, mask).cpu())
                self.values[stream] = torch.cat(chunks)
        model.train(was_training)

    def logps_sum(self, stream: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.values[stream][batch["index"].cpu()].to(batch["input_ids"].device)

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise ConfigError("cached reference log-probs cannot give full distributions; use method.reference=copy")


def make_reference(strategy: str, method: Any, model: torch.nn.Module,
                   encoded: dict[str, list[dict[str, Any]]], pad_id: int) -> Reference | None:
    if not method.needs_reference:
        return None
    if strategy == "auto":
        strategy = "copy" if method.needs_reference_logits else "cached"
    if strategy == "copy":
        return FrozenCopy(model)
    if strategy == "cached":
        if method.needs_reference_logits:
            raise ConfigError(
                f"method {method.name} needs reference logits (a KL term); method.reference=cached "
                "only stores log-probs: use method.reference=copy or auto"
            )
        streams = {s: encoded[s] for s in method.streams if method.needs(s)["ref_logps"]}
        return CachedLogps(model, streams, pad_id)
    raise ConfigError(f"unknown method.reference {strategy!r}; valid: auto, copy, cached")
