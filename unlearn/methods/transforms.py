"""Gradient transforms (SPEC 3.3): they sit between backward and the optimiser step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.core.ranges import param
from unlearn.losses.gradients import ema_update_, gru_rectify, inner_product_float64, saliency_row_mask
from unlearn.methods.base import TRANSFORMS, GradientTransform, applied_gradient, applied_groups, retain_signal


@dataclass
class GRUParams:
    gamma: float = param(0.8, above=0, at_most=1)
    """Weight of the current retain gradient in its moving average m."""


@TRANSFORMS.register("gru")
class GRU(GradientTransform):
    """GRU: keep m, an exponential moving average of the retain gradient g_r (m starts at zero, so the
    first m is gamma g_r); the unlearning gradient g_u is the gradient of the method's own terms (forget
    plus the preset's retain terms: NPO_GDR+GRU rectifies NPO + GDR); when it points against m
    (<g_u, m> < 0), project that component out: g_u - (<g_u, m> / ||m||^2) m, inner products over the
    whole parameter vector in float64; the rectified g_u is applied. A preset with no retain term gets GDR
    as a guide term that only feeds m (NPO+GRU applies the rectified NPO gradient alone). "GRU: Mitigating
    the Trade-off between Unlearning and Retention for Large Language Models" (Wang et al., 2025); as in
    the authors' code (tmlr-group/GRU), which adds the retain loss to the rectified one for npo_gd_gru."""

    Params = GRUParams
    reads_retain = True
    summary = "project the unlearning gradient off the retain gradient's average when they conflict"
    cite = "GRU (Wang et al., 2025)"
    tensor_state = ("average",)
    average: list[torch.Tensor] | None

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        retain = retain_signal(grads)
        if self.average is not None and self.average[0].device != retain[0].device:
            self.average = [a.to(retain[0].device) for a in self.average]  # resumed from a CPU checkpoint
        if self.average is None:
            self.average = [torch.zeros_like(g) for g in retain]
        ema_update_(self.average, retain, self.params.gamma)
        rectified, dot = gru_rectify(applied_gradient(grads), self.average)
        after = inner_product_float64(rectified, self.average)
        self.last_stats = {"gru_dot": dot, "gru_dot_after": after, "gru_projected": float(dot < 0)}
        return rectified

    def explain(self, groups: list[str]) -> str:
        return (f"rectifies the {applied_groups(groups)} gradient against m, the moving average of "
                f"{_retain_source(groups)}, and applies the rectified gradient")


@dataclass
class SUREParams:
    percentile: float = param(99.0, at_least=0, at_most=100)
    """Rows whose forget-gradient norm is at or above this percentile of all row norms are updated."""


@TRANSFORMS.register("sure")
class SURE(GradientTransform):
    """SURE (saliency): from the forget terms' gradient alone, the L2 norm of each output row of every
    weight matrix; rows at or above the 99th percentile of all row norms keep their (total) gradient,
    every other gradient entry is zeroed (vectors such as norms and biases included). Used with LoRA in
    ReLearn's tables (seed 000), after SalUn's weight saliency (Fan et al., ICLR 2024)."""

    Params = SUREParams
    summary = "update only the rows with the largest forget-gradient norm (top 1%)"
    cite = "SURE, ReLearn's tables (seed 000); SalUn (Fan et al., 2024)"

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        masks = saliency_row_mask(grads["forget"], self.params.percentile)
        total = applied_gradient(grads)
        kept = sum(int(m.sum()) for m in masks if m.dim() == 2)  # 2-D masks are [out, 1]: one entry a row
        rows = sum(g.shape[0] for g in grads["forget"] if g.dim() == 2)
        self.last_stats = {"sure_rows_kept": kept / max(rows, 1)}
        return [g * m for g, m in zip(total, masks)]

    def explain(self, groups: list[str]) -> str:
        return f"masks the {applied_groups(groups)} gradient to the rows the forget gradient scores highest"


@dataclass
class DGSParams:
    keep_start: float = param(0.8, above=0, at_most=1)
    """Fraction of each tensor's coordinates updated at the first step."""
    keep_end: float = param(0.4, above=0, at_most=1)
    """Fraction updated at the last step (the fraction decays linearly between the two)."""

    def __post_init__(self) -> None:
        if not 0 < self.keep_end <= self.keep_start <= 1:
            from unlearn.core.errors import ConfigError

            raise ConfigError("method.params.dgs needs 0 < keep_end <= keep_start <= 1, got "
                              f"{self.keep_end} and {self.keep_start}")


@TRANSFORMS.register("dgs")
class DGS(GradientTransform):
    """Dynamic gradient sparsity: a score m accumulates, per coordinate, the forget gradient times the
    running mean of the retain gradient; each step only the coordinates with the largest scores (a
    fraction decaying linearly from keep_start to keep_end, per tensor) keep their gradient. The update
    is the masked gradient of the method's own terms: the forget terms', plus the preset's retain terms
    when it has them; a preset without any gets GDR as a guide that only scores coordinates, as the
    authors' retain gradient does. "Adaptive Localization of Knowledge Negation for Continual LLM
    Unlearning" (Wuerkaixi et al., ICML 2025); the reference code's trimmed-range threshold is replaced
    by an exact top-k."""

    Params = DGSParams
    reads_retain = True
    summary = "update only the coordinates where forget and average retain gradients score highest"
    cite = "ALKN (Wuerkaixi et al., ICML 2025)"
    tensor_state, count_state = ("score", "retain_sum"), ("seen",)
    score: list[torch.Tensor] | None
    retain_sum: list[torch.Tensor] | None
    seen: int
    total_steps = 1

    def start(self, total_steps: int) -> None:
        self.total_steps = max(total_steps, 1)

    def keep_fraction(self, step: int) -> float:
        p = self.params
        done = step / max(self.total_steps - 1, 1)
        return p.keep_start - (p.keep_start - p.keep_end) * min(done, 1.0)

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        forget, retain = grads["forget"], retain_signal(grads)
        if self.retain_sum is None or self.score is None:
            self.retain_sum = [torch.zeros_like(g) for g in retain]
            self.score = [torch.zeros_like(g) for g in forget]
        self.seen += 1
        for total, g in zip(self.retain_sum, retain):
            total.add_(g.to(total.device))
        for score, g, r in zip(self.score, forget, self.retain_sum):
            score.add_(g * (r / self.seen))
        keep = self.keep_fraction(step)
        masks = [_top_fraction(score, keep) for score in self.score]
        summed = applied_gradient(grads)
        self.last_stats = {"dgs_keep": keep,
                           "dgs_kept": sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)}
        return [g * m for g, m in zip(summed, masks)]

    def explain(self, groups: list[str]) -> str:
        return (f"masks the {applied_groups(groups)} gradient to the coordinates scored highest by the forget "
                f"gradient times the running mean of {_retain_source(groups)}, and applies it")


def _retain_source(groups: list[str]) -> str:
    if "retain" in groups:
        return "the retain terms' gradient"
    return "the gradient of the guide term gdr (read here, never applied)"


def _top_fraction(score: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean mask of the round(fraction * n) largest entries of `score` (ties broken by position)."""
    flat = score.flatten()
    k = max(1, round(fraction * flat.numel()))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[torch.topk(flat, k).indices] = True
    return mask.view_as(score)
