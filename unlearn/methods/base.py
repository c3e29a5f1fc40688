"""Methods as parts that combine (SPEC section 3).

A method is a weighted sum of loss terms: a forget objective (weight gamma) and optionally a retain
regulariser (weight alpha). Each term names the data *stream* it is computed on ("forget",
"forget_idk", "retain", ...) and declares what it needs from the engine: full logits, reference
sequence log-probabilities, reference logits. The engine runs one forward pass per stream, computes
exactly what the terms need, and hands each term a :class:`StreamOutputs`. Terms never call the model.

Adding a method is a class with a `loss` and its needs, registered under a name, plus a preset line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from unlearn.registry import Registry

FORGET_OBJECTIVES: Registry[type["Term"]] = Registry("forget objective")
RETAIN_REGULARISERS: Registry[type["Term"]] = Registry("retain regulariser")


@dataclass
class StreamOutputs:
    """What the engine computed for one stream's batch. Shapes: B sequences, T shifted positions."""

    token_logps: torch.Tensor
    """[B, T] log p_theta of each label token (0 off-target)."""
    target_mask: torch.Tensor
    """[B, T] True on target (answer + eos) tokens."""
    index: torch.Tensor
    """[B] position of each sample in its stream (for cached reference values)."""
    logits: torch.Tensor | None = None
    """[B, T, V] shifted logits, when a term needs full distributions."""
    ref_logps_sum: torch.Tensor | None = None
    """[B] reference model's sequence log-likelihood (sum reduction)."""
    ref_logits: torch.Tensor | None = None
    """[B, T, V] reference model's shifted logits."""


@dataclass
class NoParams:
    pass


class Term:
    """One loss term. Subclasses set the class attributes and implement `loss`."""

    stream: ClassVar[str] = "forget"
    needs_logits: ClassVar[bool] = False
    needs_ref_logps: ClassVar[bool] = False
    needs_ref_logits: ClassVar[bool] = False
    Params: ClassVar[type] = NoParams
    summary: ClassVar[str] = ""

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    def loss(self, out: StreamOutputs) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class WeightedTerm:
    role: str  # "forget" or "retain"
    name: str
    weight: float
    term: Term


@dataclass
class Method:
    name: str
    terms: list[WeightedTerm] = field(default_factory=list)

    @property
    def streams(self) -> list[str]:
        """Streams in first-use order; the first one sets the epoch length."""
        seen: list[str] = []
        for t in self.terms:
            if t.term.stream not in seen:
                seen.append(t.term.stream)
        return seen

    def needs(self, stream: str) -> dict[str, bool]:
        terms = [t.term for t in self.terms if t.term.stream == stream]
        return {
            "logits": any(t.needs_logits for t in terms),
            "ref_logps": any(t.needs_ref_logps for t in terms),
            "ref_logits": any(t.needs_ref_logits for t in terms),
        }

    @property
    def needs_reference(self) -> bool:
        return any(t.term.needs_ref_logps or t.term.needs_ref_logits for t in self.terms)

    @property
    def needs_reference_logits(self) -> bool:
        return any(t.term.needs_ref_logits for t in self.terms)

    def loss(self, outputs: dict[str, StreamOutputs]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and each weighted term's (unweighted) value, for the log."""
        parts: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for t in self.terms:
            if t.weight == 0:
                continue
            value = t.term.loss(outputs[t.term.stream])
            parts[f"{t.role}_{t.name}"] = value.detach()
            total = t.weight * value if total is None else total + t.weight * value
        assert total is not None, "a method needs at least one term with a non-zero weight"
        return total, parts


def params_fields(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls)}
