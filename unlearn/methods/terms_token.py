"""Forget objectives that reweight or reshape the per-token loss (SPEC 3.1): WGA, SatImp, TNPO, TS,
SimNPO, UNDIAL, CE-U, BS-T, FLAT. Each is a short term over the pure losses in unlearn/losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import (
    FLAT_DIVERGENCES,
    bst_per_token,
    ceu_per_token,
    flat_per_sequence,
    mean_token_prob,
    satimp_per_token,
    sequence_logps_mean,
    simnpo_per_sequence,
    tnpo_per_token,
    ts_per_token,
    undial_per_token,
    wga_per_token,
)
from unlearn.methods.base import TERMS, Needs, Outputs, Term
from unlearn.methods.terms import _masked_sum
from unlearn.core.ranges import param


def _on_targets(values: torch.Tensor, out: Outputs) -> torch.Tensor:
    return _masked_sum(values, out.target_mask)


@dataclass
class WGAParams:
    beta: float = param(1.0, at_least=0)
    """Exponent of the detached token probability weighting each token (open-unlearning 1; authors 5)."""


@TERMS.register("wga")
class WGA(Term):
    """WGA: -mean_t sg(p_t^beta) CE_t. "Rethinking LLM Unlearning Objectives: A Gradient Perspective and
    Go Beyond" (Wang et al., 2025)."""
    formula = "-mean_t sg(p_t^beta) CE_t"

    Params = WGAParams
    summary = "gradient ascent weighted per token by the detached probability p^beta"
    cite = "Wang et al., 2025 (WGA)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(wga_per_token(out.token_logps, self.params.beta), out)


@dataclass
class SatImpParams:
    beta1: float = param(5.0, at_least=0)
    """Exponent of p in the detached weight p^beta1 (1-p)^beta2."""
    beta2: float = param(1.0, at_least=0)
    """Exponent of (1 - p) in the weight."""


@TERMS.register("satimp")
class SatImp(Term):
    """SatImp: GA weighted per token by sg(p^b1 (1-p)^b2). "Exploring Criteria of Loss Reweighting to
    Enhance LLM Unlearning" (Yang et al., 2025)."""
    formula = "-mean_t sg(p_t^b1 (1 - p_t)^b2) CE_t"

    Params = SatImpParams
    summary = "gradient ascent weighted per token by the detached p^b1 (1-p)^b2"
    cite = "Yang et al., 2025 (SatImp)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(satimp_per_token(out.token_logps, self.params.beta1, self.params.beta2), out)


@dataclass
class TNPOParams:
    beta: float = param(4.0, above=0)
    """Exponent b in the token weight 2 p^b / (p^b + p_ref^b)."""


@TERMS.register("tnpo")
class TNPO(Term):
    """Token-wise NPO: GA weighted per token by sg(2 p^b / (p^b + p_ref^b)) (NPO's weight, per token)."""
    formula = "-mean_t sg(2 p_t^b / (p_t^b + p_ref,t^b)) CE_t"

    Params = TNPOParams
    summary = "gradient ascent weighted per token by NPO's weight against the reference"
    cite = "token-wise NPO (after Zhang et al., 2024)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(ref_logps=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(tnpo_per_token(out.token_logps, out.ref_token_logps, self.params.beta), out)


@dataclass
class TSParams:
    temperature: float = param(2.0, above=0, why="the logits are divided by it")
    """T > 1 flattens the distribution the ascent acts on (the paper fixes no default)."""


@TERMS.register("ts")
class TemperatureScaledGA(Term):
    """TS: -mean_t CE(logits / T, y_t), gradient ascent on temperature-scaled logits (SPEC 3.1)."""
    formula = "-mean_t CE(logits_t / T, y_t)"

    Params = TSParams
    summary = "gradient ascent on temperature-scaled logits"
    cite = "temperature-scaled GA (SPEC 3.1)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(logits=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(ts_per_token(out.logits, out.target_ids, self.params.temperature), out)


@dataclass
class SimNPOParams:
    beta: float = param(4.5, above=0, why="SimNPO divides by beta")
    """Inverse temperature of SimNPO's log-sigmoid."""
    delta: float = 0.0
    """Margin subtracted from the length-normalised NLL."""


@TERMS.register("simnpo")
class SimNPO(Term):
    """SimNPO: -(2/beta) log sigmoid(beta (NLL_sum/|y| - delta)), no reference model. "Simplicity
    Prevails: Rethinking Negative Preference Optimization for LLM Unlearning" (Fan et al., 2024)."""
    formula = "-(2/beta) mean_i log sigmoid(beta (NLL_i / |y_i| - delta))"

    unit = "sequence"
    Params = SimNPOParams
    summary = "reference-free NPO on the length-normalised NLL"
    cite = "Fan et al., 2024 (SimNPO)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        nll_mean = -sequence_logps_mean(out.token_logps, out.target_mask)
        return simnpo_per_sequence(nll_mean, self.params.beta, self.params.delta).sum()


@dataclass
class UNDIALParams:
    beta: float = param(10.0, at_least=0)
    """How far the true token's reference logit is pushed down in the distillation target."""


@TERMS.register("undial")
class UNDIAL(Term):
    """UNDIAL: CE(p_theta, softmax(z_ref - beta onehot(y))) on forget target tokens: self-distillation
    towards the reference with the true token pushed down. "UNDIAL: Self-Distillation with Adjusted
    Logits for Robust Unlearning in Large Language Models" (Dong et al., 2024)."""
    formula = "mean_t CE(p_theta, softmax(z_ref - beta onehot(y_t)))"

    Params = UNDIALParams
    summary = "distil towards the reference's logits with the true token pushed down by beta"
    cite = "Dong et al., 2024 (UNDIAL)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(logits=True, ref_logits=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(undial_per_token(out.logits, out.ref_logits, out.target_ids, self.params.beta), out)


@TERMS.register("ceu")
class CEU(Term):
    """CE-U: CE(logits, softmax(sg(logits) with the true token set to -inf)) on forget target tokens:
    learn the model's own distribution without the true token (SPEC 3.1)."""
    formula = "mean_t CE(p_theta, softmax(sg(z) with z_y = -inf))"

    summary = "cross-entropy to the model's own detached distribution with the true token removed"
    cite = "CE-U, cross-entropy unlearning (2025)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(logits=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(ceu_per_token(out.logits, out.target_ids), out)


@dataclass
class BSTParams:
    lam: float = param(0.5, at_least=0, at_most=1)
    """Weight of the model's own (detached) top-K belief in the soft target."""
    top_k: int = param(20, at_least=1)
    """How many of the model's top logits form its belief b."""


@TERMS.register("bst")
class BST(Term):
    """BS-T: gradient ascent on the soft target (1 - lam) onehot(y) + lam sg(b), b = softmax over the
    model's own top-K logits (bootstrapping at the token level, survey seed 001)."""
    formula = "-mean_t CE(p_theta, (1 - lam) onehot(y_t) + lam sg(softmax(top-K z)))"

    Params = BSTParams
    summary = "gradient ascent on the answer mixed with the model's own top-K belief"
    cite = "bootstrapping, token level (survey, seed 001)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(logits=True)}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _on_targets(bst_per_token(out.logits, out.target_ids, self.params.lam, self.params.top_k), out)


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
