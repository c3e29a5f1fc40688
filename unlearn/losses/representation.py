"""Representation-level losses: RMU forget and retain terms.

RMU (Representation Misdirection for Unlearning): "The WMDP Benchmark: Measuring and Reducing
Malicious Use with Unlearning" (Li et al., 2024). On forget data the hidden states of layer L are
pushed toward a fixed random control vector c * u (u uniform in [0, 1)^H, normalised to unit norm,
drawn once); on retain data they are held at the frozen model's hidden states. Both terms are a mean
squared error over the hidden dimension (SPEC 3.1 RMU, 3.2 RMU retain).

Shapes: B = batch, L = positions, H = hidden size.
"""

from __future__ import annotations

import torch


def rmu_mse_per_token(hidden: torch.Tensor, target: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the hidden dimension of (hidden - target)^2 at each position. -> [B, L].

    hidden: [B, L, H] hidden states of the model being unlearned (layer L).
    target: anything that broadcasts against hidden: the scaled control vector c * u, [H], for the
        forget term, or the frozen model's hidden states, [B, L, H], for the retain term.
    token_mask: [B, L] bool; positions where it is False are 0 in the result (SPEC: only the
        target-token positions count). Computed in float32 at least.
    The caller reduces (e.g. `target_sum(mse, token_mask)`).
    """
    dtype = torch.promote_types(torch.promote_types(hidden.dtype, target.dtype), torch.float32)
    diff = hidden.to(dtype) - target.to(dtype)
    mse = diff.pow(2).mean(dim=-1)
    # where(), not a product: a non-finite value on a masked position must not leak as NaN.
    return torch.where(token_mask, mse, torch.zeros_like(mse))


def rmu_control_vector(hidden_size: int, coefficient: float, generator: torch.Generator) -> torch.Tensor:
    """The RMU control vector c * u / ||u||_2, u uniform in [0, 1)^H drawn from `generator`. -> [H].

    Float32, on the generator's device. Its L2 norm is `coefficient` (the paper's steering
    coefficient c, 6.5-20); the same generator state gives the same vector. Drawn once per run.
    """
    u = torch.rand(hidden_size, generator=generator, device=generator.device, dtype=torch.float32)
    return u / torch.linalg.vector_norm(u) * coefficient
