"""Divergences between the model's and the reference model's next-token distributions.

KL retain regulariser (KLR), TOFU (Maini et al., 2024): KL(p_ref || p_theta) summed over the
vocabulary. TOFU-derived code averages it over every position, padding and prompt included; here it
is masked to target tokens (SPEC section 2), which is what the definition intends.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_ref_theta_per_token(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_ref || p_theta) at every position. logits, ref_logits: [B, T, V] -> [B, T].

    The caller masks and reduces (e.g. `target_sum(kl, target_mask)`)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    ref_logp = F.log_softmax(ref_logits.float(), dim=-1)
    ref_p = ref_logp.exp()
    # Tokens the reference gives probability 0 contribute 0 (not 0 * -inf = NaN).
    return torch.where(ref_p > 0, ref_p * (ref_logp - logp), torch.zeros_like(ref_p)).sum(dim=-1)
