"""FLAT (SPEC 3.1): loss adjustment with only forget data, and its four presets."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.core.ranges import param
from unlearn.losses.fdiv import FLAT_DIVERGENCES, flat_per_sequence, mean_token_prob
from unlearn.methods.base import TERMS, Outputs, Term
from unlearn.methods.presets import Doc, Preset, T, preset


@dataclass
class FLATParams:
    divergence: str = param("tv", choices=tuple(FLAT_DIVERGENCES))
    """f-divergence of the loss adjustment: tv, kl, js or pearson."""


@TERMS.register("flat")
class FLAT(Term):
    """FLAT: L = -g*(P_e) + f*(g*(P_f)), P = mean over target tokens of the token probability of the
    template answer (e: a refusal) and of the forget answer (f), pair by pair; no retain data and no
    reference model. "LLM Unlearning via Loss Adjustment with Only Forget Data" (Wang et al., 2025).
    The reference code averages over padded positions too; here over target tokens."""
    formula = ("mean_i [-g*(P_e,i) + f*(g*(P_f,i))], P = mean_t p_t of the refusal (e) and forget (f) answer; "
               "TV: -tanh(P_e)/2 + tanh(P_f)/2, KL: -P_e + exp(P_f - 1), "
               "JS: softplus(-P_e) + softplus(P_f) - 2 ln 2, Pearson: -P_e + P_f + P_f^2/4")

    streams = ("forget_idk", "forget")
    unit = "sequence"
    Params = FLATParams
    summary = "f-divergence loss adjustment: raise the template answer, lower the forget answer"
    cite = "Wang et al., ICLR 2025 (FLAT)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        template, forget = outs[self.streams[0]], outs[self.streams[1]]
        p_e = mean_token_prob(template.token_logps, template.target_mask)
        p_f = mean_token_prob(forget.token_logps, forget.target_mask)
        return flat_per_sequence(p_e, p_f, self.params.divergence).sum()


FLAT_DOC = Doc("mean_i [-g*(P_e) + f*(g*(P_f))], P = mean_t p_t of the refusal (e) and the forget answer (f); TV: "
               "-tanh(P_e)/2 + tanh(P_f)/2; KL: -P_e + exp(P_f - 1); JS: softplus(-P_e) + softplus(P_f) - 2 ln 2; "
               "Pearson: -P_e + P_f + P_f²/4",
               "LLM Unlearning via Loss Adjustment with Only Forget Data (Wang et al., ICLR 2025)", "TV",
               "forget data and refusals only: no retain data, no reference model",
               "P averaged per sequence over target tokens; the reference code averages over every position of "
               "the batch, padding and prompt included, into one scalar")
for _label in ("TV", "KL", "JS", "Pearson"):
    preset(f"FLAT_{_label}", Preset((T("flat"),), params={"flat": {"divergence": _label.lower()}}, doc=FLAT_DOC,
                                    cite=f"LLM Unlearning via Loss Adjustment with Only Forget Data (Wang et al., "
                                         f"2025): {_label}"))
