"""Preference-style forget terms (SPEC 3.1): NPO, DPO with a refusal preferred, reference-free SimNPO;
and their presets."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.core.ranges import param
from unlearn.losses.logprobs import sequence_logps_mean
from unlearn.losses.preference import dpo_per_sequence, npo_per_sequence, simnpo_per_sequence
from unlearn.methods.base import TERMS, Needs, Outputs, Term
from unlearn.methods.presets import Doc, Preset, T, preset
from unlearn.methods.terms.likelihood import GDR, KLR_TERM, TOFU

NPO_CITE = "Negative Preference Optimization (Zhang et al., 2024)"


@dataclass
class NPOParams:
    beta: float = param(0.1, above=0, why="NPO divides by beta")
    """Inverse temperature of NPO's log-sigmoid."""


@TERMS.register("npo")
class NPO(Term):
    """NPO: -(2/beta) mean_i log sigmoid(-beta (logp_theta - logp_ref)(y_i)), sum reduction.
    Negative Preference Optimization (Zhang et al., 2024)."""
    formula = "-(2/beta) mean_i log sigmoid(-beta (log p_theta(y_i) - log p_ref(y_i))), sequence sums"

    unit = "sequence"
    Params = NPOParams
    summary = "negative preference optimisation against the reference model"
    cite = NPO_CITE
    stream_needs = Needs(ref_logps=True)

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return npo_per_sequence(out.logps_sum, out.ref_logps_sum, self.params.beta).sum()


@dataclass
class DPOParams:
    beta: float = param(0.1, above=0, why="DPO divides by beta")
    """Inverse temperature of DPO's log-sigmoid."""


@TERMS.register("dpo")
class DPO(Term):
    """DPO with the alternative (a refusal) preferred over the forget answer, pair by pair:
    -(2/beta) log sigmoid(beta ([logp - logp_ref](y_alt) - [logp - logp_ref](y))). Direct Preference
    Optimization (Rafailov et al., 2023); used for unlearning in TOFU (Maini et al., 2024)."""
    formula = "-(2/beta) log sigmoid(beta ([log p - log p_ref](y_alt) - [log p - log p_ref](y)))"

    streams = ("forget", "forget_idk")
    unit = "sequence"
    Params = DPOParams
    summary = "prefer a refusal over the forget answer (DPO), pairs aligned per question"
    cite = "Rafailov et al., 2023; TOFU (Maini et al., 2024)"
    stream_needs = Needs(ref_logps=True)

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        forget, alt = outs[self.streams[0]], outs[self.streams[1]]
        return dpo_per_sequence(alt.logps_sum, alt.ref_logps_sum, forget.logps_sum, forget.ref_logps_sum,
                                self.params.beta).sum()


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


NPO_DOC = Doc("-(2/β) mean_i log σ(-β (log p_θ(y_i) - log p_ref(y_i))), sequence sums", NPO_CITE, "β 0.1",
              "reference log-probs (cached once, or the adapter-disabled model under LoRA)")
preset("NPO", Preset((T("npo"),), cite=NPO_CITE, doc=NPO_DOC))
preset("NPO_GDR", Preset((T("npo"), GDR), cite=NPO_CITE, doc=NPO_DOC))
preset("NPO_KLR", Preset((T("npo"), KLR_TERM), cite=NPO_CITE, doc=NPO_DOC))
preset("SimNPO", Preset((T("simnpo", 0.125), GDR),
                        cite="Simplicity Prevails (Fan et al., 2024): beta 4.5, delta 0, gamma 0.125, with GDR", doc=Doc(
    "-(2/β) mean_i log σ(β (NLL_i/|y_i| - δ)) + GDR", "Simplicity Prevails: Rethinking Negative Preference "
    "Optimization for LLM Unlearning (Fan et al., 2024)", "β 4.5, δ 0, weight 0.125", "retain data; no reference model")))
DPO_DOC = Doc("-(2/β) log σ(β ([log p - log p_ref](y_idk) - [log p - log p_ref](y))) [+ GDR]",
              "Direct Preference Optimization (Rafailov et al., 2023); TOFU (Maini et al., 2024)", "β 0.1",
              "refusals aligned with the forget questions row by row (`data.alternatives`: one generated per question "
              "by `unlearn augment --kind alternatives`; else drawn from `data.refusals`); reference log-probs",
              "a drawn refusal is kept for the run; data.redraw=true draws anew every epoch (the reference framework: "
              "at every access)")
preset("DPO", Preset((T("dpo"),), cite="Rafailov et al., 2023; a refusal preferred over the forget answer", doc=DPO_DOC))
preset("IdkDPO", Preset((T("dpo"), GDR), cite=f"{TOFU}; open-unlearning's IdkDPO", doc=DPO_DOC))
