"""Gradient transforms as pure functions of lists of tensors, one tensor per parameter (SPEC 3.3).

None of them touches a model or an optimiser: the caller collects `p.grad` for the trained
parameters, in a fixed order, calls these, and writes the result back.

GRU: "GRU: Mitigating the Trade-off between Unlearning and Retention for Large Language Models"
(Wang et al., 2025). An exponential moving average m of the retain gradient is kept; when the
unlearning gradient g_u conflicts with it (<g_u, m> < 0), g_u is projected onto the half-space
orthogonal to m: g_u - (<g_u, m> / ||m||^2) m. Inner products are over the whole flattened
parameter vector, in float64.

SURE (saliency-based unlearning, row granularity): per output row of each weight matrix, the L2
norm of the forget gradient; rows at or above a percentile (99) of all row norms are kept, the
gradients of the rest are zeroed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_same_structure(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], names: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names}: lists of different lengths ({len(a)} and {len(b)})")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(f"{names}: tensor {i} has shapes {tuple(x.shape)} and {tuple(y.shape)}")


@torch.no_grad()
def ema_update_(
    average: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], weight: float
) -> Sequence[torch.Tensor]:
    """In place, per tensor: average <- weight * grads + (1 - weight) * average. Returns `average`.

    `weight` weights the current gradient (GRU uses 0.8). The caller initialises `average`
    (e.g. with zeros, or with a copy of the first retain gradient). `grads` is not modified.
    """
    _check_same_structure(average, grads, "ema_update_")
    for avg, g in zip(average, grads):
        avg.mul_(1.0 - weight).add_(g.to(device=avg.device, dtype=avg.dtype), alpha=weight)
    return average


@torch.no_grad()
def inner_product_float64(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """sum_i <a_i, b_i>, every product and the accumulation in float64. Lists of same-shape tensors."""
    _check_same_structure(a, b, "inner_product_float64")
    total = torch.zeros((), dtype=torch.float64)
    for x, y in zip(a, b):
        y64 = y.reshape(-1).to(device=x.device, dtype=torch.float64)
        part = torch.dot(x.reshape(-1).to(torch.float64), y64)
        total = total + part.cpu()
    return float(total)


@torch.no_grad()
def gru_rectify(
    forget_grads: Sequence[torch.Tensor], retain_average: Sequence[torch.Tensor]
) -> tuple[list[torch.Tensor], float]:
    """GRU gradient rectification (Wang et al., 2025). Returns (rectified g_u, d = <g_u, m>).

    forget_grads: g_u, one tensor per parameter; retain_average: m, the EMA of the retain gradient,
    same shapes. With d = <g_u, m> over the whole flattened parameter vector in float64:
    if d < 0 and ||m|| > 0, returns g_u - (d / ||m||^2) m, computed in float64 and cast back to
    each tensor of g_u's dtype (then <result, m> = 0 up to that dtype's rounding); otherwise (d >= 0,
    or m = 0) returns g_u unchanged: a new list holding the input tensors themselves (no copy).
    The inputs are never modified.
    """
    _check_same_structure(forget_grads, retain_average, "gru_rectify")
    d = inner_product_float64(forget_grads, retain_average)
    m_norm_sq = inner_product_float64(retain_average, retain_average)
    if not (d < 0.0) or m_norm_sq == 0.0:
        return list(forget_grads), d
    coefficient = d / m_norm_sq
    rectified = []
    for g, m in zip(forget_grads, retain_average):
        r = g.to(torch.float64) - coefficient * m.to(device=g.device, dtype=torch.float64)
        rectified.append(r.to(g.dtype))
    return rectified, d


def _percentile_linear(values: torch.Tensor, percentile: float) -> float:
    """The q-th percentile (0-100) of a 1-D float64 tensor with linear interpolation between order
    statistics (numpy's default, `torch.quantile`'s 'linear'); written out because `torch.quantile`
    refuses inputs of more than 2^24 elements."""
    ordered, _ = torch.sort(values)
    position = (ordered.numel() - 1) * (percentile / 100.0)
    lo = int(position // 1)
    hi = min(lo + 1, ordered.numel() - 1)
    fraction = position - lo
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * fraction)


@torch.no_grad()
def saliency_row_mask(grads: Sequence[torch.Tensor], percentile: float = 99.0) -> list[torch.Tensor]:
    """SURE-style row saliency masks (SPEC 3.3). Returns one bool mask per gradient (True = keep).

    For each 2-D gradient [out, in] (a weight matrix, LoRA A and B included), the L2 norm of each
    output row (dim 0) is taken in float64. The threshold is the `percentile` (0-100, linear
    interpolation, numpy's default) of all these row norms pooled across tensors; rows whose norm is
    at or above it are kept. A 2-D gradient gets a mask of shape [out, 1], which broadcasts over its
    columns: `g * mask` or `g.masked_fill_(~mask, 0)`.

    Choice: tensors that are not 2-D (biases, norm weights, scalars) have no output rows, so they
    take no part in the threshold and get an all-False mask of their own shape: their gradient is
    zeroed, i.e. only salient rows of weight matrices are updated. If there is no 2-D gradient at
    all, every mask is all-False.
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    row_norms: list[torch.Tensor | None] = [
        torch.linalg.vector_norm(g, dim=1, dtype=torch.float64) if g.dim() == 2 else None for g in grads
    ]
    pooled = [n.cpu() for n in row_norms if n is not None]
    if not pooled:
        return [torch.zeros_like(g, dtype=torch.bool) for g in grads]
    threshold = _percentile_linear(torch.cat(pooled), percentile)
    masks = []
    for g, norms in zip(grads, row_norms):
        if norms is None:
            masks.append(torch.zeros_like(g, dtype=torch.bool))
        else:
            masks.append((norms >= threshold).unsqueeze(1))
    return masks
