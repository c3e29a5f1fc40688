"""Loss terms (SPEC 3.1 forget objectives, 3.2 retain regularisers). Each returns the sum of its loss
over the micro-batch's units; the engine divides by the global batch's number of units."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import (
    dpo_per_sequence,
    kl_ref_theta_per_token,
    npo_per_sequence,
    rmu_control_vector,
    rmu_mse_per_token,
)
from unlearn.methods.base import TERMS, Needs, Outputs, Refresh, SetupContext, Term
from unlearn.core.ranges import param


def _masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, torch.zeros_like(values)).sum()


class NLLTerm(Term):
    """NLL summed over the target tokens of the term's stream (token mean once the engine divides)."""

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return -_masked_sum(out.token_logps, out.target_mask)


@TERMS.register("finetune")
class Finetune(NLLTerm):
    formula = "NLL(y | x), token mean"
    streams = ("train",)
    summary = "NLL on the training data (makes target and retain models; not an unlearning method)"


@TERMS.register("gdr")
class GDR(NLLTerm):
    formula = "NLL(y_r | x_r), token mean over retain target tokens"
    streams = ("retain",)
    summary = "gradient descent (NLL) on the retain set"
    cite = "GradDiff; TOFU (Maini et al., 2024)"


@TERMS.register("idk")
class IDK(NLLTerm):
    formula = "NLL(y_idk | x), token mean"
    streams = ("forget_idk",)
    summary = "NLL of a refusal ('I don't know') to each forget question"
    cite = "TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)"


@TERMS.register("mismatch")
class Mismatch(NLLTerm):
    formula = "NLL(y_rand | x), token mean"
    streams = ("forget_random",)
    summary = "NLL of a random answer from unrelated normal data to each forget question (LLMU L_rdn)"
    cite = "Large Language Model Unlearning (Yao et al., 2024)"


@TERMS.register("relearn")
class RelearnPositive(NLLTerm):
    """ReLearn's positive term L_GDF: NLL on new targets (augmented, vague but relevant answers to the
    forget questions). "ReLearn: Unlearning via Learning for Large Language Models" (Xu et al., 2025)."""
    formula = "NLL(y_new | x), token mean over the new targets"

    streams = ("augmented",)
    summary = "NLL on ReLearn's augmented forget set (data.augmented, else made offline): learning, not ascent"
    cite = "ReLearn (Xu et al., 2025)"


@TERMS.register("tru")
class TRUReasoning(NLLTerm):
    """TRU's learning term: NLL of a reasoning chain ending in an explained refusal (data.targets, or
    made by the offline generator). "Explainable LLM Unlearning through Reasoning" (Liao et al., 2025)."""
    formula = "NLL(r | x), token mean over the reasoning targets"

    streams = ("targets",)
    summary = "NLL on reasoning refusals (data.targets or offline-generated)"
    cite = "TRU (SPEC 3.1; lam unverified, default 1)"


@TERMS.register("ga")
class GradientAscent(Term):
    """GA: -NLL(y | x) (SPEC 3.1). Knowledge Unlearning for Mitigating Privacy Risks in Language
    Models (Jang et al., 2023); TOFU (Maini et al., 2024)."""
    formula = "-NLL(y | x), token mean (minimising it ascends the NLL)"

    summary = "gradient ascent on the forget answers"
    cite = "Jang et al., 2023; TOFU (Maini et al., 2024)"

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return _masked_sum(out.token_logps, out.target_mask)


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
    cite = "Negative Preference Optimization (Zhang et al., 2024)"

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(ref_logps=True)}

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

    def needs(self) -> dict[str, Needs]:
        return {s: Needs(ref_logps=True) for s in self.streams}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        forget, alt = outs[self.streams[0]], outs[self.streams[1]]
        return dpo_per_sequence(alt.logps_sum, alt.ref_logps_sum, forget.logps_sum, forget.ref_logps_sum,
                                self.params.beta).sum()


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
        return _masked_sum(kl_ref_theta_per_token(out.logits, out.ref_logits), out.target_mask)


LAYER_AT_SETUP = -1
"""Stands for "a layer chosen from the model's depth at setup" in Needs declared before setup."""


def _layer_or_unknown(layer: int | None) -> int:
    return LAYER_AT_SETUP if layer is None else layer


def rmu_layer(layer: int | None, num_layers: int) -> int:
    """Default RMU layer: 7 of 32 (WMDP's choice for Zephyr-7B), scaled to the model's depth."""
    chosen = round(num_layers * 7 / 32) if layer is None else layer
    if not 0 <= chosen < num_layers:
        from unlearn.core.errors import ConfigError

        raise ConfigError(f"RMU layer {chosen} does not exist: the model has layers 0..{num_layers - 1}")
    return chosen


@dataclass
class RMUParams:
    layer: int | None = param(None, at_least=0)
    """Decoder layer whose output is steered; default round(7/32 of the depth) (7 of 32 in WMDP)."""
    coefficient: float = param(6.5, above=0)
    """Norm c of the random control vector c*u (WMDP: 6.5 to 20)."""
    module: str = "mlp.down_proj"
    """Module trained in each of the `layers_trained` layers ending at `layer` (WMDP: layers L-2..L)."""
    layers_trained: int = param(3, at_least=1)
    """How many layers, ending at `layer`, have their `module` trained."""


@TERMS.register("rmu")
class RMU(Term):
    """RMU forget term: MSE between layer-L hidden states of forget target tokens and a fixed random
    vector c*u (u uniform in [0,1)^H, normalised, drawn once from the run's seed). Only the chosen
    modules train. The WMDP Benchmark (Li et al., 2024)."""
    formula = "mean_H (h_L(x_f) - c u)^2, token mean over target positions"

    Params = RMUParams
    summary = "steer the forget hidden states at one layer to a random vector (trains chosen modules only)"
    cite = "The WMDP Benchmark: Measuring and Reducing Malicious Use with Unlearning (Li et al., 2024)"

    def __init__(self, params=None, streams=None):
        super().__init__(params, streams)
        self.layer: int | None = None
        self.control: torch.Tensor | None = None

    def setup(self, ctx: SetupContext) -> None:
        p = self.params
        self.layer = rmu_layer(p.layer, ctx.num_layers)
        ctx.shared["rmu_layer"] = self.layer
        first = max(0, self.layer - p.layers_trained + 1)
        ctx.train_only([f".layers.{i}.{p.module}." for i in range(first, self.layer + 1)])
        self.control = rmu_control_vector(ctx.hidden_size, p.coefficient, ctx.generator(salt=7))

    def needs(self) -> dict[str, Needs]:
        return {self.streams[0]: Needs(hidden_layers=(_layer_or_unknown(self.layer),))}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        hidden = out.hidden[self.layer]
        control = self.control.to(device=hidden.device, dtype=hidden.dtype)
        return rmu_mse_per_token(hidden, control, out.hidden_mask).sum()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"control": self.control}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.control = state["control"]


@dataclass
class RMURetainParams:
    layer: int | None = param(None, at_least=0)
    """Default: the rmu term's layer (its default is round(7/32 of the depth))."""


@TERMS.register("rmu_retain")
class RMURetain(Term):
    """RMU retain term: MSE between the model's and the frozen model's layer-L hidden states on retain
    target tokens (weight alpha, 100-1200 in WMDP). The WMDP Benchmark (Li et al., 2024)."""
    formula = "mean_H (h_L^theta(x_r) - h_L^frozen(x_r))^2, token mean"

    streams = ("retain",)
    Params = RMURetainParams
    summary = "keep the retain hidden states at the RMU layer equal to the frozen model's"
    cite = "The WMDP Benchmark (Li et al., 2024)"

    def __init__(self, params=None, streams=None):
        super().__init__(params, streams)
        self.layer: int | None = None

    def setup(self, ctx: SetupContext) -> None:
        layer = self.params.layer if self.params.layer is not None else ctx.shared.get("rmu_layer")
        self.layer = rmu_layer(layer, ctx.num_layers)

    def needs(self) -> dict[str, Needs]:
        layer = _layer_or_unknown(self.layer)
        return {self.streams[0]: Needs(hidden_layers=(layer,), ref_hidden_layers=(layer,))}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return rmu_mse_per_token(out.hidden[self.layer], out.ref_hidden[self.layer], out.hidden_mask).sum()
