"""Likelihood terms (SPEC 3.1, 3.2): NLL on any stream, gradient ascent, gradient ascent on the model's own
regenerated answers; the named NLL terms (gdr, idk, mismatch, relearn, tru, finetune); and the presets
built on them: GA and its retain variants, IDK, Mismatch, LLMU, BS_S, ReLearn, TRU, finetune."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.core.ranges import param
from unlearn.losses.ascent import ga_sum, nll_sum
from unlearn.methods.base import TERMS, Outputs, Refresh, Term
from unlearn.methods.presets import Doc, Preset, T, named_term, preset

TOFU = "TOFU (Maini et al., 2024)"


@TERMS.register("nll")
class NLL(Term):
    """NLL summed over the target tokens of the term's stream (the token mean once the engine divides):
    fine-tuning, GDR on the retain set, or learning new targets, by the stream a preset gives it."""
    formula = "NLL(y | x), token mean"
    summary = "NLL (learning) on the stream's answers"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return nll_sum(out.token_logps, out.target_mask)


@TERMS.register("ga")
class GradientAscent(Term):
    """GA: -NLL(y | x) (SPEC 3.1). Knowledge Unlearning for Mitigating Privacy Risks in Language
    Models (Jang et al., 2023); TOFU (Maini et al., 2024)."""
    formula = "-NLL(y | x), token mean (minimising it ascends the NLL)"

    summary = "gradient ascent on the forget answers"
    cite = "Jang et al., 2023; TOFU (Maini et al., 2024)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return ga_sum(out.token_logps, out.target_mask)


@dataclass
class SampledParams:
    resample_every: float = param(2.0, above=0)
    """Epochs (of the forget stream) between regenerations of the model's own answers."""
    sample: bool = True
    """Sample the answers (temperature 1, seeded), as BS_S defines y_hat; false: greedy decoding."""
    max_new_tokens: int = param(64, at_least=1)
    """Length limit of each generated answer."""


@TERMS.register("ga_sampled")
class GradientAscentSampled(GradientAscent):
    """GA on the model's own answers to the forget questions, regenerated during training (the
    sequence half of BS_S, 'bootstrapping' in the survey, seed 001)."""
    formula = "-NLL(y_hat | x), token mean, y_hat the model's own answer"

    streams = ("forget_sampled",)
    Params = SampledParams
    summary = "gradient ascent on the model's own (regenerated) answers to the forget questions"
    cite = "Bootstrapping unlearning, sequence level (survey, seed 001)"

    def refresh(self) -> Refresh:
        p = self.params
        return Refresh(self.streams[0], p.resample_every, p.sample, p.max_new_tokens)


# -- NLL under the names the papers use --------------------------------------------------------------

GDR = named_term(T("nll", role="retain", key="gdr", streams=("retain",),
                   summary="gradient descent (NLL) on the retain set", cite="GradDiff; TOFU (Maini et al., 2024)",
                   formula="NLL(y_r | x_r), token mean over retain target tokens"))
IDK = named_term(T("nll", key="idk", streams=("forget_idk",),
                   summary="NLL of a refusal ('I don't know') to each forget question",
                   cite="TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)",
                   formula="NLL(y_idk | x), token mean"))
MISMATCH = named_term(T("nll", key="mismatch", streams=("forget_random",),
                        summary="NLL of a random answer from unrelated normal data to each forget question (LLMU L_rdn)",
                        cite="Large Language Model Unlearning (Yao et al., 2024)", formula="NLL(y_rand | x), token mean"))
RELEARN = named_term(T("nll", key="relearn", streams=("augmented",),
                       summary="NLL on ReLearn's augmented forget set (data.augmented, else made offline): learning, "
                               "not ascent",
                       cite="ReLearn: Unlearning via Learning for Large Language Models (Xu et al., 2025)",
                       formula="NLL(y_new | x), token mean over the new targets"))
TRU = named_term(T("nll", key="tru", streams=("targets",),
                   summary="NLL on reasoning refusals (data.targets or offline-generated)",
                   cite="Explainable LLM Unlearning through Reasoning (Liao et al., 2025); lam unverified, default 1",
                   formula="NLL(r | x), token mean over the reasoning targets"))
FINETUNE = named_term(T("nll", role="train", key="finetune", streams=("train",),
                        summary="NLL on the training data (makes target and retain models; not an unlearning method)",
                        formula="NLL(y | x), token mean"))
KLR_TERM = T("klr", role="retain")

# -- presets -----------------------------------------------------------------------------------------

preset("GA", Preset((T("ga"),), cite=f"Jang et al., 2023; {TOFU}", doc=Doc(
    "-CE, token mean", "Knowledge Unlearning for Mitigating Privacy Risks in Language Models (Jang et al., 2023); "
    "TOFU (Maini et al., 2024)", needs="forget")))
GA_RETAIN = Doc("GA + NLL on retain / + KL(p_ref ‖ p_θ) on retain", "TOFU (Maini et al., 2024)", "weights 1, 1",
                "retain data; KLR: reference model",
                "KL masked to retain target tokens (TOFU code averages every position, padding included)")
preset("GA_GDR", Preset((T("ga"), GDR), cite=f"GradDiff; {TOFU}", doc=GA_RETAIN), aliases=("GradDiff",))
preset("GA_KLR", Preset((T("ga"), KLR_TERM), cite=TOFU, doc=GA_RETAIN))
REDRAW = ("one refusal per question drawn once for the run; the reference framework draws one at every "
          "access: data.redraw=true draws anew every epoch")
IDK_DOC = Doc("NLL of a refusal to each forget question [+ GDR]", "TOFU (Maini et al., 2024)",
              "built-in refusals, or `data.refusals=FILE` (TOFU's `idontknow.jsonl`)", "refusals", REDRAW)
preset("IDK", Preset((IDK,), cite=TOFU, doc=IDK_DOC))
preset("IDK_GDR", Preset((IDK, GDR), cite=TOFU, doc=IDK_DOC))
LLMU_PAPER = "Large Language Model Unlearning (Yao et al., 2024)"
preset("Mismatch", Preset((MISMATCH,), cite="LLMU (Yao et al., 2024), random-answer term alone", doc=Doc(
    "NLL of a random retain answer to each forget question", LLMU_PAPER, needs="random answers (drawn once, seeded)",
    differs="data.redraw=true draws each question's random answer anew every epoch; data.mismatch_answers=K gives "
    "K random answers to each question at once (LLMU's code: 5)")))
preset("LLMU", Preset((T("ga", 0.5), MISMATCH, KLR_TERM), cite=f"{LLMU_PAPER}: eps1 0.5, eps2 1, eps3 1", doc=Doc(
    "0.5 GA + 1 Mismatch + 1 KL(p_orig ‖ p_θ) on normal data", LLMU_PAPER, "ε1 0.5, ε2 1, ε3 1",
    "retain set as normal data; reference logits", "one random answer per question drawn once (LLMU's code: "
    "K = 5 TruthfulQA answers drawn every step: data.mismatch_answers=5 gives K at once, data.redraw=true draws "
    "them anew every epoch); "
    "KL averaged over retain target tokens (LLMU's code: every position of its normal text)")))
preset("BS_S", Preset((T("ga", 0.5), T("ga_sampled", 0.5)),
                      cite="Bootstrapping, sequence level (survey, seed 001): lam 0.5 = the two weights", doc=Doc(
    "0.5 GA(y) + 0.5 GA(ŷ), ŷ the model's own answer", "bootstrapping, sequence level (survey, seed 001)",
    "λ 0.5 as the two weights; ŷ sampled (temperature 1, seeded), regenerated every 2 epochs",
    "generated targets (saved under `streams/`)", "one sampled answer per question of at most 64 tokens, no retain "
    "term; the code attributed to the authors (an open-unlearning fork) samples 3 of at most 200 tokens and adds "
    "GDR: BS_S_GDR (200 tokens + GDR; 3 samples at once are not offered)")))
preset("BS_S_GDR", Preset((T("ga", 0.5), T("ga_sampled", 0.5), GDR), params={"ga_sampled": {"max_new_tokens": 200}},
                          cite="Bootstrapping, sequence level, with GDR and 200-token samples (the settings of the "
                               "code attributed to the survey's authors)", doc=Doc(
    "0.5 GA(y) + 0.5 GA(ŷ) + GDR", "bootstrapping, sequence level (survey, seed 001)",
    "λ 0.5; ŷ up to 200 tokens, sampled, regenerated every 2 epochs; GDR weight 1", "generated targets, retain data")))
preset("ReLearn", Preset((RELEARN, GDR, KLR_TERM),
                         cite="ReLearn (Xu et al., 2025): L_GDF + L_GDR + L_KLR; augmented set from data.augmented",
                         doc=Doc("NLL on the augmented forget set (`data.augmented`, the output of `unlearn augment` "
                                 "with any generator; without one it is made from the forget split with the offline "
                                 "generator; docs/generation.md) + GDR + KLR",
                                 "ReLearn: Unlearning via Learning for Large Language Models (Xu et al., 2025)",
                                 "weights 1, 1, 1", "augmented forget set (question variants, vague verified answers, "
                                 "sentence completions), retain data, reference logits",
                                 "no generic data is mixed in when the set is made automatically")))
preset("TRU", Preset((TRU, T("ga"), GDR), cite="TRU: NLL on reasoning refusals (data.targets) + lam GA + GDR, lam 1",
                     doc=Doc("NLL on reasoning refusals (`data.targets`, from `unlearn augment --kind reasoning` with "
                             "any generator; without one they are made from the forget split with the offline "
                             "generator) + λ GA + NLL on the retain set (seed 001's formula has all three terms)",
                             "Explainable LLM Unlearning through Reasoning (Liao et al., 2025)",
                             "λ 1 (unverified), retain weight 1", "reasoning refusals, forget and retain data",
                             "no public code; without the retain term: method.weights.gdr=0")))
preset("finetune", Preset((FINETUNE,), cite="plain fine-tuning: makes target and retain models"))
