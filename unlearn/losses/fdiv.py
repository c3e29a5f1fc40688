"""FLAT: "LLM Unlearning via Loss Adjustment with Only Forget Data" (Wang et al., ICLR 2025).

A variational f-divergence between the template answer e (a refusal or unrelated text) and the forget
answer f, using only forget data (no retain set, no reference model):

    L = -g*(P_e) + f*(g*(P_f))

P = mean over the target tokens of one sequence of the token probability p_t (probabilities, not
log-probabilities). Forms per divergence (SPEC 3.1):
    tv:      -tanh(P_e)/2 + tanh(P_f)/2   (default)
    kl:      -P_e + exp(P_f - 1)
    pearson: -P_e + P_f + P_f^2/4
    js:      softplus(-P_e) + softplus(P_f) - 2 ln 2
Minimising L raises P_e and lowers P_f.

These forms agree with the reference code (UCSC-REAL/FLAT, `get_contrastive_loss` in
dataloader.py, with its activation/conjugate applied to P = -(NLLLoss of softmax)). Differences from
the reference code, on purpose (SPEC 2, 3.1): the reference averages p_t over every position of the
whole batch (prompt and padding counted as 0) and computes one scalar L from those batch means; here
P is a per-sequence mean over target tokens only and L is returned per sequence ([B]) for the caller
to average.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FLAT_DIVERGENCES: tuple[str, ...] = ("tv", "kl", "js", "pearson")


def mean_token_prob(token_logps: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Mean token probability over the target tokens of each sequence: mean_t exp(log p_t).

    token_logps: [B, T]; target_mask: [B, T] (bool) -> [B]. Positions outside the mask do not count
    (a sequence without target tokens gives 0)."""
    mask = target_mask.bool()
    probs = torch.where(mask, token_logps.float().exp(), torch.zeros_like(token_logps, dtype=torch.float32))
    return probs.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


def flat_per_sequence(p_template: torch.Tensor, p_forget: torch.Tensor, divergence: str) -> torch.Tensor:
    """FLAT loss L = -g*(P_e) + f*(g*(P_f)) per sequence.

    p_template: [B] mean token probability of the template answer (P_e); p_forget: [B] of the forget
    answer (P_f) (see `mean_token_prob`). divergence in FLAT_DIVERGENCES. Returns [B]."""
    if divergence == "tv":
        return -torch.tanh(p_template) / 2.0 + torch.tanh(p_forget) / 2.0
    if divergence == "kl":
        return -p_template + torch.exp(p_forget - 1.0)
    if divergence == "pearson":
        return -p_template + p_forget + p_forget.pow(2) / 4.0
    if divergence == "js":
        return F.softplus(-p_template) + F.softplus(p_forget) - 2.0 * math.log(2.0)
    raise ValueError(f"unknown FLAT divergence {divergence!r}; expected one of {', '.join(FLAT_DIVERGENCES)}")
