"""Representation terms (SPEC 3.1, 3.2): RMU's forget and retain terms, and the RMU preset."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.core.ranges import param
from unlearn.losses.representation import rmu_control_vector, rmu_mse_per_token
from unlearn.methods.base import TERMS, Needs, Outputs, SetupContext, Term
from unlearn.methods.presets import Doc, Preset, T, preset

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

    layer: int | None = None
    """The steered layer, chosen at setup."""
    control: torch.Tensor | None = None
    """The random control vector c*u, drawn at setup (or read back from a checkpoint)."""

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

    layer: int | None = None
    """The layer compared, chosen at setup (the forget term's unless set)."""

    def setup(self, ctx: SetupContext) -> None:
        layer = self.params.layer if self.params.layer is not None else ctx.shared.get("rmu_layer")
        self.layer = rmu_layer(layer, ctx.num_layers)

    def needs(self) -> dict[str, Needs]:
        layer = _layer_or_unknown(self.layer)
        return {self.streams[0]: Needs(hidden_layers=(layer,), ref_hidden_layers=(layer,))}

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        return rmu_mse_per_token(out.hidden[self.layer], out.ref_hidden[self.layer], out.hidden_mask).sum()


preset("RMU", Preset((T("rmu"), T("rmu_retain", 100.0, role="retain")),
                     cite="The WMDP Benchmark (Li et al., 2024): alpha 100, c 6.5", doc=Doc(
    "mean_H (h_L(x_f) - c·u)² + α mean_H (h_L(x_r) - h_L^frozen(x_r))²", "The WMDP Benchmark (Li et al., 2024)",
    "L = round(7/32 · depth), c 6.5, α 100; trains `mlp.down_proj` of layers L-2..L only",
    "hidden states of layer L (hooks: the layer's own output), a frozen reference",
    "hidden states at target-token positions only, averaged over every such position of the global batch "
    "(WMDP's code: every position of the batch, padding included; open-unlearning: per sequence, then over the "
    "batch)")))
