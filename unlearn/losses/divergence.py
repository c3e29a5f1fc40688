"""Divergences between the model's and the reference model's next-token distributions.

KL retain regulariser (KLR), TOFU (Maini et al., 2024): KL(p_ref || p_theta) summed over the
vocabulary. TOFU-derived code averages it over every position, padding and prompt included; here it
is masked to target tokens (SPEC section 2), which is what the definition intends.

Memory: with a 49k-token vocabulary the [B, T, V] distributions are the largest tensors of a step. The
plain formula keeps several of them (both log-softmaxes, p_ref, their difference, the product) and saves
three for backward. Here the forward runs over chunks of positions and saves only the two logit tensors;
the backward uses the closed form d KL / d z_theta = softmax(z_theta) - p_ref (sum_v p_ref = 1), also in
chunks. Same values (the same operations per position) and the same gradient to float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 2 ** 22
"""Positions per chunk = this / vocabulary size (about 16 MiB of float32 per temporary)."""


def _kl_rows(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_ref || p_theta) of each row. [N, V], [N, V] -> [N] (float32)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    ref_logp = F.log_softmax(ref_logits.float(), dim=-1)
    ref_p = ref_logp.exp()
    # Tokens the reference gives probability 0 contribute 0 (not 0 * -inf = NaN).
    return torch.where(ref_p > 0, ref_p * (ref_logp - logp), torch.zeros_like(ref_p)).sum(dim=-1)


def _row_chunks(shape: torch.Size) -> list[tuple[int, slice]]:
    """(sequence, positions) pieces of a [B, T, V] tensor: each sequence's rows are contiguous even when the
    tensor is a view that drops the last position (logits[:, :-1]), so no piece is copied."""
    step = max(1, CHUNK_ELEMENTS // max(shape[-1], 1))
    return [(b, slice(t, t + step)) for b in range(shape[0]) for t in range(0, shape[1], step)]


class _ChunkedKL(torch.autograd.Function):
    """KL(p_ref || p_theta) per position, chunked; gradient with respect to the model's logits only."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
        out = torch.empty(logits.shape[:-1], dtype=torch.float32, device=logits.device)
        for b, rows in _row_chunks(logits.shape):
            out[b, rows] = _kl_rows(logits[b, rows], ref_logits[b, rows])
        ctx.save_for_backward(logits, ref_logits)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, ref_logits = ctx.saved_tensors
        grad = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        for b, rows in _row_chunks(logits.shape):
            diff = F.softmax(logits[b, rows].float(), dim=-1) - F.softmax(ref_logits[b, rows].float(), dim=-1)
            grad[b, rows] = (diff * grad_out[b, rows].unsqueeze(-1)).to(grad.dtype)
        return grad, None


def kl_ref_theta_per_token(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_ref || p_theta) at every position. logits, ref_logits: [B, T, V] -> [B, T] (float32).

    The caller masks and reduces (e.g. `target_sum(kl, target_mask)`). The reference is a constant: no
    gradient flows into `ref_logits`."""
    return _ChunkedKL.apply(logits, ref_logits.detach())
