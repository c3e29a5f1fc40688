"""Distillation-style forget objectives: cross-entropy of the model's next-token distribution
against a detached soft target built from a reference or from the model itself.

Shapes: logits, ref_logits [B, T, V] (shifted: position t predicts token t+1); target_ids [B, T]
(any valid id, e.g. 0, off-target). Every function returns [B, T] values that the caller masks to
target tokens and reduces. Targets are detached (no gradient flows through them).

UNDIAL: "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in Large Language
Models" (Dong et al., 2024). Minimised (descent towards the adjusted target).
CE-U: "CE-U: Cross Entropy Unlearning" (Yang, 2025, arXiv:2503.01224). Minimised.
BS-T: bootstrapping unlearning at the token level (SPEC 3.1, BS-T; survey seed 001). A GA loss:
minimising it ascends the cross-entropy to the soft target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _one_hot(target_ids: torch.Tensor, vocab: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(target_ids.long(), num_classes=vocab).to(dtype)


def undial_per_token(
    logits: torch.Tensor, ref_logits: torch.Tensor, target_ids: torch.Tensor, beta: float
) -> torch.Tensor:
    """UNDIAL per-token loss: -sum_v q_v log softmax(logits)_v with
    q = sg(softmax(ref_logits - beta * onehot(y))). [B, T, V], [B, T, V], [B, T] -> [B, T]."""
    vocab = logits.shape[-1]
    ref = ref_logits.detach().float()
    q = F.softmax(ref - beta * _one_hot(target_ids, vocab, ref.dtype), dim=-1)
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(q * logp).sum(dim=-1)


def ceu_per_token(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """CE-U per-token loss: -sum_v q_v log softmax(logits)_v with q = softmax(sg(logits)) after
    setting the true token's logit to -inf (q puts zero mass on y). [B, T, V], [B, T] -> [B, T].
    Needs V >= 2."""
    logits_f = logits.float()
    masked = logits_f.detach().scatter(-1, target_ids.long().unsqueeze(-1), float("-inf"))
    q = F.softmax(masked, dim=-1)
    logp = F.log_softmax(logits_f, dim=-1)
    # q is exactly 0 at y and logp is finite, so the product has no NaN.
    return -(q * logp).sum(dim=-1)


def bst_per_token(logits: torch.Tensor, target_ids: torch.Tensor, lam: float, top_k: int) -> torch.Tensor:
    """BS-T per-token loss: sum_v t_v log softmax(logits)_v, t = (1 - lam) onehot(y) + lam * sg(b),
    b = softmax over the model's own top-K logits (0 outside the top K).

    Minimising it ascends CE(t, p_theta). lam = 0 gives log p(y) (plain GA).
    [B, T, V], [B, T] -> [B, T]; top_k is clamped to V."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    logits_f = logits.float()
    vocab = logits_f.shape[-1]
    k = min(int(top_k), vocab)
    top_vals, top_idx = logits_f.detach().topk(k, dim=-1)
    b = torch.zeros_like(logits_f).scatter(-1, top_idx, F.softmax(top_vals, dim=-1))
    target = (1.0 - lam) * _one_hot(target_ids, vocab, logits_f.dtype) + lam * b
    logp = F.log_softmax(logits_f, dim=-1)
    return (target * logp).sum(dim=-1)
