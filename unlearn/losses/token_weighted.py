"""Token-weighted gradient ascent: GA whose per-token terms carry a detached weight, and
temperature-scaled GA.

Every function returns [B, T] values (T = shifted positions) that the caller masks to target tokens
and reduces (e.g. `target_sum(values, target_mask)`). Minimising the reduced value ascends the
cross-entropy of the forget answer. token_logps [B, T] hold log p_theta(y_t) (0 off-target, as
`token_logps_from_logits` returns them); sg = stop-gradient (the weights are detached, so the
gradient with respect to token_logps is the weight itself).

WGA: "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go Beyond"
(Wang et al., 2025): sg(p^beta) * log p.
SatImp: "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning" (Yang et al., 2025):
sg(p^beta1 * (1 - p)^beta2) * log p.
TNPO (token-wise NPO, from the WGA paper's analysis of NPO; NPO: Zhang et al., 2024):
sg(2 p^b / (p^b + p_ref^b)) * log p.
TS (temperature-scaled GA, SPEC 3.1): log_softmax(logits / T) at the target token.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def wga_per_token(token_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """WGA per-token loss sg(p^beta) * log p = -sg(p^beta) * CE. token_logps: [B, T] -> [B, T].

    p^beta is computed as exp(beta * log p) and detached."""
    weight = torch.exp(beta * token_logps.detach())
    return weight * token_logps


def satimp_per_token(token_logps: torch.Tensor, beta1: float, beta2: float) -> torch.Tensor:
    """SatImp per-token loss sg(p^beta1 * (1 - p)^beta2) * log p. token_logps: [B, T] -> [B, T].

    1 - p is computed as -expm1(log p) (exact near p = 1); the weight is detached."""
    logp = token_logps.detach()
    p = torch.exp(logp)
    one_minus_p = -torch.expm1(logp)
    weight = p.pow(beta1) * one_minus_p.pow(beta2)
    return weight * token_logps


def tnpo_per_token(token_logps: torch.Tensor, ref_token_logps: torch.Tensor, beta: float,
                   eps: float = 0.0) -> torch.Tensor:
    """Token-wise NPO per-token loss sg(2 p^b / (p^b + p_ref^b + eps)) * log p.

    token_logps, ref_token_logps: [B, T] log-probabilities of the target tokens under the model and
    the reference model -> [B, T]. The weight is computed in log space (no p^b underflow),
    2 exp(b log p - logsumexp(b log p, b log p_ref, log eps)), and is detached; eps 0 gives
    2 sigmoid(b (log p - log p_ref)). The authors' eps is 1e-5 ("Rethinking LLM Unlearning Objectives: A
    Gradient Perspective and Go Beyond", Wang et al., ICLR 2025): it stops updating tokens the model
    already finds unlikely (weight 0.56 at p = p_ref = 0.05, b = 4)."""
    dtype = torch.promote_types(token_logps.dtype, torch.float32)
    a = beta * token_logps.detach().to(dtype)
    c = beta * ref_token_logps.detach().to(dtype)
    parts = [a, c] if eps <= 0 else [a, c, torch.full_like(a, math.log(eps))]
    weight = 2.0 * torch.exp(a - torch.logsumexp(torch.stack(parts), dim=0))
    return weight.to(token_logps.dtype) * token_logps


def ts_per_token(logits: torch.Tensor, target_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature-scaled GA per-token loss: log_softmax(logits / T)[y_t] = -CE(logits / T, y_t).

    logits: [B, T, V] (shifted); target_ids: [B, T] (any valid id, e.g. 0, off-target) -> [B, T].
    At T = 1 it equals log p(y_t). T must be > 0."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logp = F.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, target_ids.long().unsqueeze(-1)).squeeze(-1)
