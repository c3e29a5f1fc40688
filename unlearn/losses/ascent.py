"""Likelihood losses: plain fine-tuning (NLL) and gradient ascent (GA).

GA: "Knowledge Unlearning for Mitigating Privacy Risks in Language Models" (Jang et al., 2023);
TOFU's baseline (Maini et al., 2024). Minimising the GA loss ascends the NLL; it is unbounded below.
"""

from __future__ import annotations

import torch

from unlearn.losses.logprobs import batch_token_mean


def nll_token_mean(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood, token mean over all target tokens of the batch (= `model(...).loss`)."""
    return -batch_token_mean(token_logps, target_mask)


def ga_token_mean(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Gradient-ascent loss: -NLL, token mean over all target tokens of the batch (SPEC 3.1, GA)."""
    return batch_token_mean(token_logps, target_mask)
