"""Gradient transforms (SPEC 3.3): they sit between backward and the optimiser step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import ema_update_, gru_rectify, inner_product_float64, saliency_row_mask
from unlearn.methods.base import TRANSFORMS, GradientTransform


@dataclass
class GRUParams:
    gamma: float = 0.8
    """Weight of the current retain gradient in its moving average m."""

    def __post_init__(self) -> None:
        if not 0 < self.gamma <= 1:
            from unlearn.errors import ConfigError

            raise ConfigError(f"method.params.gru.gamma must be in (0, 1], got {self.gamma}")


@TRANSFORMS.register("gru")
class GRU(GradientTransform):
    """GRU: keep m, an exponential moving average of the retain gradient; when the unlearning
    gradient g_u points against it (<g_u, m> < 0), project that component out:
    g_u - (<g_u, m> / ||m||^2) m, inner products over the whole parameter vector in float64. The
    rectified g_u is the applied gradient; retain terms act only through m. "GRU: Mitigating the
    Trade-off between Unlearning and Retention for Large Language Models" (Wang et al., 2025)."""

    Params = GRUParams
    summary = "project the unlearning gradient off the retain gradient's average when they conflict"
    cite = "GRU (Wang et al., 2025)"

    def __init__(self, params=None):
        super().__init__(params)
        self.average: list[torch.Tensor] | None = None

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        retain = grads["retain"]
        if self.average is not None and self.average[0].device != retain[0].device:
            self.average = [a.to(retain[0].device) for a in self.average]  # resumed from a CPU checkpoint
        if self.average is None:
            self.average = [g.detach().clone() for g in retain]
        else:
            ema_update_(self.average, retain, self.params.gamma)
        rectified, dot = gru_rectify(grads["forget"], self.average)
        after = inner_product_float64(rectified, self.average)
        self.last_stats = {"gru_dot": dot, "gru_dot_after": after, "gru_projected": float(dot < 0)}
        return rectified

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {} if self.average is None else {f"average.{i}": t for i, t in enumerate(self.average)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            self.average = [state[f"average.{i}"] for i in range(len(state))]


@dataclass
class SUREParams:
    percentile: float = 99.0
    """Rows whose forget-gradient norm is at or above this percentile of all row norms are updated."""

    def __post_init__(self) -> None:
        if not 0 <= self.percentile <= 100:
            from unlearn.errors import ConfigError

            raise ConfigError(f"method.params.sure.percentile must be in [0, 100], got {self.percentile}")


@TRANSFORMS.register("sure")
class SURE(GradientTransform):
    """SURE (saliency): from the forget terms' gradient alone, the L2 norm of each output row of every
    weight matrix; rows at or above the 99th percentile of all row norms keep their (total) gradient,
    every other gradient entry is zeroed (vectors such as norms and biases included). Used with LoRA in
    ReLearn's tables (seed 000), after SalUn's weight saliency (Fan et al., ICLR 2024)."""

    Params = SUREParams
    groups = ("forget",)
    summary = "update only the rows with the largest forget-gradient norm (top 1%)"
    cite = "SURE, ReLearn's tables (seed 000); SalUn (Fan et al., 2024)"

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        masks = saliency_row_mask(grads["forget"], self.params.percentile)
        total = [sum(parts) for parts in zip(*grads.values())]
        kept = sum(int(m.sum()) for m in masks if m.dim() == 2)  # 2-D masks are [out, 1]: one entry a row
        rows = sum(g.shape[0] for g in grads["forget"] if g.dim() == 2)
        self.last_stats = {"sure_rows_kept": kept / max(rows, 1)}
        return [g * m for g, m in zip(total, masks)]
