"""Forget terms that reweight the per-token loss (SPEC 3.1): WGA, SatImp, TNPO, TS; and their presets."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.core.ranges import param
from unlearn.losses.token_weighted import satimp_per_token, tnpo_per_token, ts_per_token, wga_per_token
from unlearn.methods.base import Needs, token_term
from unlearn.methods.presets import Doc, Preset, T, preset
from unlearn.methods.terms.likelihood import GDR


@dataclass
class WGAParams:
    beta: float = param(1.0, at_least=0)
    """Exponent of the detached token probability weighting each token (open-unlearning 1; authors 5)."""


WGA = token_term(
    "WGA", "wga", WGAParams, lambda out, p: wga_per_token(out.token_logps, p.beta),
    'WGA: -mean_t sg(p_t^beta) CE_t. "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go '
    'Beyond" (Wang et al., 2025).', formula="-mean_t sg(p_t^beta) CE_t",
    summary="gradient ascent weighted per token by the detached probability p^beta", cite="Wang et al., 2025 (WGA)")


@dataclass
class SatImpParams:
    beta1: float = param(5.0, at_least=0)
    """Exponent of p in the detached weight p^beta1 (1-p)^beta2."""
    beta2: float = param(1.0, at_least=0)
    """Exponent of (1 - p) in the weight."""


SatImp = token_term(
    "SatImp", "satimp", SatImpParams, lambda out, p: satimp_per_token(out.token_logps, p.beta1, p.beta2),
    'SatImp: GA weighted per token by sg(p^b1 (1-p)^b2). "Exploring Criteria of Loss Reweighting to Enhance '
    'LLM Unlearning" (Yang et al., 2025).', formula="-mean_t sg(p_t^b1 (1 - p_t)^b2) CE_t",
    summary="gradient ascent weighted per token by the detached p^b1 (1-p)^b2", cite="Yang et al., 2025 (SatImp)")


@dataclass
class TNPOParams:
    beta: float = param(4.0, above=0)
    """Exponent b in the token weight 2 p^b / (p^b + p_ref^b + eps)."""
    eps: float = param(1e-5, at_least=0)
    """Added to the weight's denominator, as in the authors' code (0: NPO's weight per token)."""


TNPO = token_term(
    "TNPO", "tnpo", TNPOParams, lambda out, p: tnpo_per_token(out.token_logps, out.ref_token_logps, p.beta, p.eps),
    "Token-wise NPO: GA weighted per token by sg(2 p^b / (p^b + p_ref^b + eps)) (NPO's weight, per token). "
    '"Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go Beyond" (Wang et al., ICLR 2025).',
    formula="-mean_t sg(2 p_t^b / (p_t^b + p_ref,t^b + eps)) CE_t", needs=Needs(ref_logps=True),
    summary="gradient ascent weighted per token by NPO's weight against the reference",
    cite="token-wise NPO (Wang et al., ICLR 2025)")


@dataclass
class TSParams:
    temperature: float = param(2.0, above=0, why="the logits are divided by it")
    """T > 1 flattens the distribution the ascent acts on (the paper fixes no default)."""


TemperatureScaledGA = token_term(
    "TemperatureScaledGA", "ts", TSParams, lambda out, p: ts_per_token(out.logits, out.target_ids, p.temperature),
    "TS: -mean_t CE(logits / T, y_t), gradient ascent on temperature-scaled logits (SPEC 3.1).",
    formula="-mean_t CE(logits_t / T, y_t)", summary="gradient ascent on temperature-scaled logits",
    cite="temperature-scaled GA (SPEC 3.1)", needs=Needs(logits=True))


preset("WGA", Preset((T("wga"), GDR), cite="Wang et al., 2025 (WGA), with GDR as in open-unlearning", doc=Doc(
    "-mean_t sg(p_t^β) CE_t + GDR", "Rethinking LLM Unlearning Objectives (Wang et al., 2025)", "β 1 (the authors use 5)",
    "retain data")))
preset("SatImp", Preset((T("satimp", 0.1), GDR), cite="Yang et al., 2025 (SatImp): gamma 0.1, with GDR", doc=Doc(
    "-mean_t sg(p_t^β1 (1-p_t)^β2) CE_t + GDR", "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning "
    "(Yang et al., 2025)", "β1 5, β2 1, weight 0.1", "retain data")))
preset("TNPO", Preset((T("tnpo"), GDR), cite="token-wise NPO (b 4, eps 1e-5), with GDR", doc=Doc(
    "-mean_t sg(2 p_t^b / (p_t^b + p_ref,t^b + eps)) CE_t + GDR", "Rethinking LLM Unlearning Objectives: A "
    "Gradient Perspective and Go Beyond (Wang et al., ICLR 2025)", "b 4, eps 1e-5",
    "reference per-token log-probs, retain data", "the authors' TNPO has no retain term (tnpo) or a KL one "
    "(tnpo_kl): method.weights.gdr=0, or method.name=custom method.forget=tnpo method.retain=klr")))
preset("TS", Preset((T("ts"),), cite="temperature-scaled GA (T 2)", doc=Doc(
    "-mean_t CE(z_t / T, y_t)", "temperature-scaled GA (SPEC 3.1)", "T 2 (the paper fixes none)", "forget")))
