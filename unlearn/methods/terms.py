"""The loss terms of the first methods (SPEC 3.1 forget objectives, 3.2 retain regularisers)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import (
    batch_token_mean,
    ga_token_mean,
    kl_ref_theta_per_token,
    nll_token_mean,
    npo_per_sequence,
    sequence_logps_sum,
)
from unlearn.methods.base import FORGET_OBJECTIVES, RETAIN_REGULARISERS, StreamOutputs, Term


class NLLTerm(Term):
    """NLL (token mean over the batch's target tokens) on the term's stream; subclasses pick the stream."""

    def loss(self, out: StreamOutputs) -> torch.Tensor:
        return nll_token_mean(out.token_logps, out.target_mask)


@FORGET_OBJECTIVES.register("finetune")
class Finetune(NLLTerm):
    """Plain fine-tuning on the training stream: how target and retain models are made."""

    stream = "train"
    summary = "NLL on the training data (not an unlearning method)"


@FORGET_OBJECTIVES.register("ga")
class GradientAscent(Term):
    """GA: -NLL(y | x), token mean over the batch's target tokens. Jang et al. 2023; TOFU 2024."""

    summary = "gradient ascent on the forget answers"

    def loss(self, out: StreamOutputs) -> torch.Tensor:
        return ga_token_mean(out.token_logps, out.target_mask)


@dataclass
class NPOParams:
    beta: float = 0.1
    """Inverse temperature of NPO's log-sigmoid."""


@FORGET_OBJECTIVES.register("npo")
class NPO(Term):
    """NPO (Zhang et al., 2024): -(2/beta) mean_i log sigmoid(-beta (logp_theta - logp_ref)(y_i)),
    sequence log-likelihoods with the sum reduction."""

    needs_ref_logps = True
    Params = NPOParams
    summary = "negative preference optimisation against the reference model"

    def loss(self, out: StreamOutputs) -> torch.Tensor:
        assert out.ref_logps_sum is not None
        logps_sum = sequence_logps_sum(out.token_logps, out.target_mask)
        return npo_per_sequence(logps_sum, out.ref_logps_sum, self.params.beta).mean()


@FORGET_OBJECTIVES.register("idk")
class IDK(NLLTerm):
    """IDK (TOFU, Maini et al., 2024): fine-tune the forget questions to a refusal ("I don't know")."""

    stream = "forget_idk"
    summary = "fine-tuning the forget questions to refusals"


@RETAIN_REGULARISERS.register("none")
class NoRetain(Term):
    stream = "retain"
    summary = "no retain term"

    def loss(self, out: StreamOutputs) -> torch.Tensor:  # never called: weight 0
        raise RuntimeError("the 'none' regulariser has no loss")


@RETAIN_REGULARISERS.register("gdr")
class GDR(NLLTerm):
    """GDR: gradient descent (NLL, token mean) on the retain set (TOFU's 'grad diff' retain term)."""

    stream = "retain"
    summary = "NLL on the retain set"


@RETAIN_REGULARISERS.register("klr")
class KLR(Term):
    """KLR: KL(p_ref || p_theta) on retain target tokens (TOFU's KL retain term, masked to the
    target tokens instead of TOFU code's average over every position)."""

    stream = "retain"
    needs_logits = True
    needs_ref_logits = True
    summary = "KL(p_ref || p_theta) on retain target tokens"

    def loss(self, out: StreamOutputs) -> torch.Tensor:
        assert out.logits is not None and out.ref_logits is not None
        return batch_token_mean(kl_ref_theta_per_token(out.logits, out.ref_logits), out.target_mask)
