"""Log-probability helpers and the three reductions of SPEC section 2.

`sum` over target tokens (a sequence log-likelihood), `mean` over the target tokens of one sequence
(length-normalised), and the token mean over all target tokens of a batch (what `model(...).loss`
returns, negated; terms return `target_sum` and the engine divides by the global batch's count). Function names say which one they compute.
"""

from __future__ import annotations

import torch

from unlearn.core.batching import IGNORE_INDEX


def token_logps_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of the labels, shifted for next-token prediction.

    logits: [B, L, V]; labels: [B, L] with IGNORE_INDEX on the prompt and on padding.
    Returns (token_logps [B, L-1], target_mask [B, L-1] bool). Position t holds log p(labels[t+1]);
    it is 0 where the mask is False. Gathers the label logit and subtracts logsumexp, so the full
    log-softmax is never materialised.
    """
    shifted_logits = logits[:, :-1, :]
    shifted_labels = labels[:, 1:]
    target_mask = shifted_labels != IGNORE_INDEX
    safe_labels = shifted_labels.masked_fill(~target_mask, 0)
    label_logits = shifted_logits.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1).float()
    token_logps = label_logits - torch.logsumexp(shifted_logits.float(), dim=-1)
    # where(), not a product: -inf * 0 would be NaN on masked positions.
    return torch.where(target_mask, token_logps, torch.zeros_like(token_logps)), target_mask


def sequence_logps_sum(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Sum of target-token log-probabilities per sequence: log p(y | x). [B, T] -> [B]."""
    return torch.where(target_mask, token_logps, torch.zeros_like(token_logps)).sum(dim=-1)


def sequence_logps_mean(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean target-token log-probability per sequence (length-normalised). [B, T] -> [B]."""
    counts = target_mask.sum(dim=-1).clamp(min=1)
    return sequence_logps_sum(token_logps, target_mask) / counts


def target_sum(values: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Sum of per-token values over every target token of the micro-batch. [B, T] -> scalar. A token-level
    term returns this; the engine divides it by the number of target tokens of the whole global batch,
    which gives the token mean (`model(...).loss` for the NLL) however the batch is split."""
    return torch.where(target_mask, values, torch.zeros_like(values)).sum()
