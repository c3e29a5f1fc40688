"""The KL retain term (SPEC 3.2): KLR, and LLMU's forward KL on normal data."""

from __future__ import annotations

import torch

from unlearn.losses import kl_ref_theta_per_token, target_sum
from unlearn.methods.base import TERMS, Needs, Outputs, Term


@TERMS.register("klr")
class KLR(Term):
    """KL(p_ref || p_theta) summed over the vocabulary, on target tokens (TOFU's KL retain term,
    masked to target tokens instead of averaged over every position; LLMU's forward KL on normal data)."""
    formula = "sum_v p_ref log(p_ref / p_theta), token mean over target tokens"

    streams = ("retain",)
    summary = "KL(p_ref || p_theta) on retain target tokens"
    cite = "TOFU (Maini et al., 2024); LLMU (Yao et al., 2024)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(logits=True, ref_logits=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        assert out.logits is not None and out.ref_logits is not None
        return target_sum(kl_ref_theta_per_token(out.logits, out.ref_logits), out.target_mask)
