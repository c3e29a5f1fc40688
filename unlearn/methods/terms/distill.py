"""Forget terms that distil towards a changed target distribution (SPEC 3.1): UNDIAL, CE-U, BS-T; and
their presets."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.core.ranges import param
from unlearn.losses.distill import bst_per_token, ceu_per_token, undial_per_token
from unlearn.methods.base import Needs, token_term
from unlearn.methods.presets import Doc, Preset, T, preset
from unlearn.methods.terms.likelihood import GDR


@dataclass
class UNDIALParams:
    beta: float = param(10.0, at_least=0)
    """How far the true token's reference logit is pushed down in the distillation target."""


UNDIAL = token_term(
    "UNDIAL", "undial", UNDIALParams, lambda out, p: undial_per_token(out.logits, out.ref_logits, out.target_ids, p.beta),
    "UNDIAL: CE(p_theta, softmax(z_ref - beta onehot(y))) on forget target tokens: self-distillation towards the "
    'reference with the true token pushed down. "UNDIAL: Self-Distillation with Adjusted Logits for Robust '
    'Unlearning in Large Language Models" (Dong et al., 2024).',
    formula="mean_t CE(p_theta, softmax(z_ref - beta onehot(y_t)))", needs=Needs(logits=True, ref_logits=True),
    summary="distil towards the reference's logits with the true token pushed down by beta",
    cite="Dong et al., 2024 (UNDIAL)")


@dataclass
class CEUParams:
    ignore_first_n: int = param(1, at_least=0)
    """Answer tokens left out at the start of each answer, as in the authors' code (its first token is
    predicted from the prompt alone)."""


CEU = token_term(
    "CEU", "ceu", CEUParams, lambda out, p: ceu_per_token(out.logits, out.target_ids),
    "CE-U: CE(logits, softmax(sg(logits) with the true token set to -inf)) on forget target tokens: learn the "
    "model's own distribution without the true token (SPEC 3.1), leaving out each answer's first `ignore_first_n` "
    'tokens as the authors\' code does. "CE-U: Cross Entropy Unlearning" (Yang, 2025).',
    formula="mean_t CE(p_theta, softmax(sg(z) with z_y = -inf)), t past the first n answer tokens",
    summary="cross-entropy to the model's own detached distribution with the true token removed",
    cite="CE-U, cross-entropy unlearning (2025)", needs=Needs(logits=True), skipped=lambda p: p.ignore_first_n)


@dataclass
class BSTParams:
    lam: float = param(0.5, at_least=0, at_most=1)
    """Weight of the model's own (detached) top-K belief in the soft target."""
    top_k: int = param(20, at_least=1)
    """How many of the model's top logits form its belief b."""


BST = token_term(
    "BST", "bst", BSTParams, lambda out, p: bst_per_token(out.logits, out.target_ids, p.lam, p.top_k),
    "BS-T: gradient ascent on the soft target (1 - lam) onehot(y) + lam sg(b), b = softmax over the model's own "
    "top-K logits (bootstrapping at the token level, survey seed 001).",
    formula="-mean_t CE(p_theta, (1 - lam) onehot(y_t) + lam sg(softmax(top-K z)))", needs=Needs(logits=True),
    summary="gradient ascent on the answer mixed with the model's own top-K belief",
    cite="bootstrapping, token level (survey, seed 001)")


preset("UNDIAL", Preset((T("undial"),), cite="UNDIAL (Dong et al., 2024): beta 10", doc=Doc(
    "mean_t CE(p_θ, softmax(z_ref - β onehot(y_t)))", "UNDIAL: Self-Distillation with Adjusted Logits for Robust "
    "Unlearning in LLMs (Dong et al., 2024)", "β 10", "reference logits", "averaged over answer tokens; the "
    "authors' code (in open-unlearning) averages over every position, prompt and padding included")))
preset("CE_U", Preset((T("ceu"),), cite="CE-U (2025): no retain term, first answer token left out", doc=Doc(
    "mean_t CE(p_θ, softmax(sg(z) with z_y = -∞)), past the first answer token", "CE-U: Cross Entropy "
    "Unlearning (Yang, 2025)", "ignore_first_n 1", needs="forget; no retain term")))
preset("BS_T", Preset((T("bst"),), cite="Bootstrapping, token level (survey, seed 001): lam 0.5, K 20", doc=Doc(
    "-mean_t CE(p_θ, (1-λ) onehot(y_t) + λ sg(softmax over the model's top-K logits))",
    "bootstrapping, token level (survey, seed 001)", "λ 0.5, K 20", "forget", "the code attributed to the "
    "authors (an open-unlearning fork) uses λ 0.2 and GDR: BS_T_GDR")))
preset("BS_T_GDR", Preset((T("bst"), GDR), params={"bst": {"lam": 0.2}}, cite="Bootstrapping, token level, with "
                          "GDR: lam 0.2, K 20 (the settings of the code attributed to the survey's authors)", doc=Doc(
    "BS-T (λ 0.2) + GDR", "bootstrapping, token level (survey, seed 001)", "λ 0.2, K 20, GDR weight 1",
    "forget and retain data")))
