"""Likelihood losses: plain fine-tuning (NLL) and gradient ascent (GA), as sums over target tokens (the
engine divides by the global batch's number of target tokens: the token mean, `model(...).loss`).

GA: "Knowledge Unlearning for Mitigating Privacy Risks in Language Models" (Jang et al., 2023);
TOFU's baseline (Maini et al., 2024). Minimising the GA loss ascends the NLL; it is unbounded below.
"""

from __future__ import annotations

import torch

from unlearn.losses.logprobs import target_sum


def nll_sum(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood summed over the target tokens. [B, T] -> scalar."""
    return -target_sum(token_logps, target_mask)


def ga_sum(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Gradient-ascent loss: -NLL summed over the target tokens (SPEC 3.1, GA). [B, T] -> scalar."""
    return target_sum(token_logps, target_mask)
