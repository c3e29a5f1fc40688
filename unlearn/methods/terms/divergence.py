"""The KL retain term (SPEC 3.2): KLR, and LLMU's forward KL on normal data."""

from __future__ import annotations

import torch

from unlearn.losses.divergence import kl_ref_theta_per_token
from unlearn.methods.base import TERMS, Needs, Outputs, TokenLoss


@TERMS.register("klr")
class KLR(TokenLoss):
    """KL(p_ref || p_theta) summed over the vocabulary, on target tokens (TOFU's KL retain term,
    masked to target tokens instead of averaged over every position; LLMU's forward KL on normal data)."""
    formula = "sum_v p_ref log(p_ref / p_theta), token mean over target tokens"

    streams = ("retain",)
    summary = "KL(p_ref || p_theta) on retain target tokens"
    cite = "TOFU (Maini et al., 2024); LLMU (Yao et al., 2024)"
    stream_needs = Needs(logits=True, ref_logits=True)

    def per_token(self, out: Outputs) -> torch.Tensor:
        assert out.logits is not None and out.ref_logits is not None
        return kl_ref_theta_per_token(out.logits, out.ref_logits)
