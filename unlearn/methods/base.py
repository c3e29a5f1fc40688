"""The method-engine contract (SPEC section 3).

A method is a list of weighted loss *terms*, optionally gradient *transforms*, and a reference
strategy. A term names the data *streams* it reads ("forget", "retain", "forget_idk", ...) and
declares what it needs of each as one :class:`Needs` object; the engine runs one forward pass per
stream for the model and one for the reference, computes exactly what was asked, and hands the term
one :class:`Outputs` per stream. Terms never call the model.

A term returns the *sum* of its loss over the units of the micro-batch (target tokens or sequences,
as its `unit` says); the engine divides by the number of units in the whole global batch (summed over
micro-batches and processes), so the same global batch gives the same update however it is split.

Adding a method is a pure loss (unlearn/losses), a term class registered in :data:`TERMS` with its
preset beside it (unlearn/methods/terms/), and a hand-worked test: CONTRIBUTING.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from unlearn.core.registry import Registry
from unlearn.losses.logprobs import sequence_logps_sum, target_sum

TERMS: Registry[type["Term"]] = Registry("loss term")
TRANSFORMS: Registry[type["GradientTransform"]] = Registry("gradient transform")


@dataclass(frozen=True)
class Needs:
    """What a term needs of one stream's batch, beyond per-token log-probs and target ids (always given).

    ref_logps: the reference model's per-token log-probs (sequence sums derive from them);
    hidden_layers / ref_hidden_layers: indices of decoder layers whose output hidden states are needed.
    """

    logits: bool = False
    hidden_layers: tuple[int, ...] = ()
    ref_logps: bool = False
    ref_logits: bool = False
    ref_hidden_layers: tuple[int, ...] = ()

    def __or__(self, other: "Needs") -> "Needs":
        return Needs(
            logits=self.logits or other.logits,
            hidden_layers=tuple(sorted(set(self.hidden_layers) | set(other.hidden_layers))),
            ref_logps=self.ref_logps or other.ref_logps,
            ref_logits=self.ref_logits or other.ref_logits,
            ref_hidden_layers=tuple(sorted(set(self.ref_hidden_layers) | set(other.ref_hidden_layers))),
        )

    @property
    def reference(self) -> bool:
        return self.ref_logps or self.ref_logits or bool(self.ref_hidden_layers)

    @property
    def reference_model(self) -> bool:
        """True when cached log-probs are not enough (full distributions or hidden states)."""
        return self.ref_logits or bool(self.ref_hidden_layers)


@dataclass
class Outputs:
    """What the engine computed for one stream's micro-batch. B sequences, L input positions,
    T = L - 1 shifted positions (position t scores token t + 1), V vocabulary, H hidden size."""

    token_logps: torch.Tensor
    """[B, T] log p_theta of each target token (0 off-target)."""
    target_mask: torch.Tensor
    """[B, T] True on target (answer + end-of-answer) tokens."""
    target_ids: torch.Tensor
    """[B, T] the target token ids (0 off-target)."""
    index: torch.Tensor
    """[B] position of each sample in its stream; aligned streams share it row by row."""
    logits: torch.Tensor | None = None
    """[B, T, V] shifted logits."""
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    """layer -> [B, L, H] output hidden states of that decoder layer."""
    ref_token_logps: torch.Tensor | None = None
    """[B, T] the reference model's per-token log-probs of the targets."""
    ref_logits: torch.Tensor | None = None
    """[B, T, V] the reference model's shifted logits."""
    ref_hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    """layer -> [B, L, H] the reference model's hidden states."""

    @property
    def logps_sum(self) -> torch.Tensor:
        """[B] log p_theta(y | x): the sum reduction."""
        return sequence_logps_sum(self.token_logps, self.target_mask)

    @property
    def ref_logps_sum(self) -> torch.Tensor:
        """[B] log p_ref(y | x)."""
        assert self.ref_token_logps is not None, "the term did not declare Needs(ref_logps=True)"
        return sequence_logps_sum(self.ref_token_logps, self.target_mask)

    @property
    def hidden_mask(self) -> torch.Tensor:
        """[B, L] True at input positions that hold a target token (for hidden-state losses)."""
        first = torch.zeros_like(self.target_mask[:, :1])
        return torch.cat([first, self.target_mask], dim=1)


@dataclass
class NoParams:
    pass


@dataclass
class Refresh:
    """A stream the engine regenerates from the model during training (BS_S): every `every_epochs`
    epochs of the primary stream, the model answers the source stream's questions."""

    stream: str
    every_epochs: float = 2.0
    do_sample: bool = False
    max_new_tokens: int = 64


class SetupContext:
    """What a term may do before training: read the model, draw seeded state, restrict training to
    chosen modules (`train_only`)."""

    def __init__(self, model: torch.nn.Module, seed: int):
        self.model = model
        self.seed = seed
        self.trainable_patterns: list[str] | None = None
        self.shared: dict[str, Any] = {}
        """What one term's setup tells the terms set up after it (e.g. RMU's chosen layer)."""

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + salt)

    def train_only(self, patterns: list[str]) -> None:
        """Only parameters whose name contains one of `patterns` are trained."""
        self.trainable_patterns = (self.trainable_patterns or []) + list(patterns)


class Term:
    """One loss term. Subclasses set the class attributes and implement `loss_sum`."""

    streams: ClassVar[tuple[str, ...]] = ("forget",)
    unit: ClassVar[str] = "token"
    """What the loss is a sum over: "token" (target tokens of the first stream) or "sequence"."""
    Params: ClassVar[type] = NoParams
    summary: ClassVar[str] = ""
    cite: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    """The loss as a formula, for `unlearn methods NAME` and the docs."""
    stream_needs: ClassVar[Needs] = Needs()
    """What the term needs of each of its streams (a term whose needs depend on its setup overrides `needs`)."""

    def __init__(self, params: Any = None, streams: tuple[str, ...] | None = None):
        self.params = params if params is not None else self.Params()
        self.streams = tuple(streams or type(self).streams)

    def needs(self) -> dict[str, Needs]:
        """Needs per stream; called after `setup`."""
        return {s: self.stream_needs for s in self.streams}

    def setup(self, ctx: SetupContext) -> None:
        """Before training (and again, identically, before a resume)."""

    def refresh(self) -> Refresh | None:
        return None

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint (e.g. a drawn random direction)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass


class TokenLoss(Term):
    """A term whose loss is a value per target token of its first stream (`per_token`, [B, T]); its
    loss_sum is the sum over the target tokens, less the first `skipped_tokens()` of each sample."""

    def per_token(self, out: Outputs) -> torch.Tensor:
        raise NotImplementedError

    def skipped_tokens(self) -> int:
        """How many of each sample's first target tokens the loss leaves out (the engine's token count
        leaves them out too)."""
        return 0

    def loss_sum(self, outs: dict[str, Outputs]) -> torch.Tensor:
        out = outs[self.streams[0]]
        mask = out.target_mask
        skip = self.skipped_tokens()
        if skip:
            mask = mask & (mask.long().cumsum(-1) > skip)
        return target_sum(self.per_token(out), mask)


def token_term(class_name: str, name: str, params: type, per_token: Callable[[Outputs, Any], torch.Tensor], doc: str,
               *, formula: str, summary: str, cite: str, needs: Needs = Needs(),
               skipped: Callable[[Any], int] | None = None) -> type[TokenLoss]:
    """Declare and register (as `name`) a TokenLoss term from its per-token loss `per_token(outputs, params)`,
    a [B, T] tensor: the whole declaration of a per-token method in one call. `skipped(params)`: the
    answer tokens each sample leaves out at its start. `class_name` names the class (run fingerprints
    record it)."""
    body: dict[str, Any] = {"__doc__": doc, "__module__": per_token.__module__, "formula": formula, "Params": params,
                            "summary": summary, "cite": cite, "stream_needs": needs,
                            "per_token": lambda self, out: per_token(out, self.params)}
    if skipped is not None:
        body["skipped_tokens"] = lambda self: skipped(self.params)
    return TERMS.register(name)(type(class_name, (TokenLoss,), body))


class GradientTransform:
    """Sits between backward and the optimiser step. It sees the gradient of each group of terms
    ("forget", "retain", "guide": the terms' roles), returns the gradient to apply, and may keep state.
    A "guide" term (GDR added for a transform that reads a retain gradient when the preset has no retain
    term of its own) feeds the transform only: its gradient is never applied."""

    Params: ClassVar[type] = NoParams
    groups: ClassVar[tuple[str, ...]] = ("forget",)
    """Gradient groups the method must have."""
    reads_retain: ClassVar[bool] = False
    """Reads a retain gradient: the preset's retain terms, or a guide GDR added when it has none."""
    summary: ClassVar[str] = ""
    cite: ClassVar[str] = ""
    tensor_state: ClassVar[tuple[str, ...]] = ()
    """Attributes holding one tensor per parameter (None before the first step): checkpointed as
    `NAME.i` and restored on a resume."""
    count_state: ClassVar[tuple[str, ...]] = ()
    """Integer attributes (0 at the start), checkpointed with the tensors."""

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()
        self.last_stats: dict[str, float] = {}
        for name in self.tensor_state:
            setattr(self, name, None)
        for name in self.count_state:
            setattr(self, name, 0)

    def start(self, total_steps: int) -> None:
        """Called once before the first step (and again on a resume) with the run's length."""

    def apply(self, grads: dict[str, list[torch.Tensor]], step: int) -> list[torch.Tensor]:
        raise NotImplementedError

    def after_step(self, params: list[torch.Tensor], step: int) -> None:
        pass

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The declared state; empty before the first step."""
        out = {f"{name}.{i}": t for name in self.tensor_state for i, t in enumerate(getattr(self, name) or [])}
        if out:
            out.update({name: torch.tensor(getattr(self, name)) for name in self.count_state})
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not state:
            return
        for name in self.tensor_state:
            n = sum(1 for key in state if key.rsplit(".", 1)[0] == name)
            setattr(self, name, [state[f"{name}.{i}"] for i in range(n)] or None)
        for name in self.count_state:
            setattr(self, name, int(state[name]))

    def explain(self, groups: list[str]) -> str:
        """What the transform takes and applies for a method with these gradient groups."""
        return ""


def applied_gradient(grads: dict[str, list[torch.Tensor]]) -> list[torch.Tensor]:
    """The sum of every group's gradient but the guide's: what the method's own terms ask for."""
    return [sum(parts) for parts in zip(*(g for name, g in grads.items() if name != "guide"))]


def retain_signal(grads: dict[str, list[torch.Tensor]]) -> list[torch.Tensor]:
    """The retain gradient a transform reads: the preset's retain terms', else the guide GDR's."""
    return grads["retain"] if "retain" in grads else grads["guide"]


def applied_groups(groups: list[str]) -> str:
    return " + ".join(g for g in groups if g != "guide")


@dataclass
class WeightedTerm:
    key: str
    """Unique within the method; names the term's parameters (method.params.KEY.*) and log entries."""
    role: str
    """forget, retain, train or guide (read by a gradient transform, never applied): the term's gradient
    group."""
    weight: float
    term: Term
    summary: str = ""
    """What the term does here (`unlearn methods NAME`); default the term class's summary."""
    cite: str = ""
    formula: str = ""

    def about(self) -> tuple[str, str, str]:
        """(summary, cite, formula): the preset's words for this use of the term, else the class's."""
        cls = type(self.term)
        return self.summary or cls.summary, self.cite or cls.cite, self.formula or cls.formula


@dataclass
class Method:
    name: str
    terms: list[WeightedTerm] = field(default_factory=list)
    transforms: list[GradientTransform] = field(default_factory=list)
    reference: str = "auto"
    cite: str = ""

    @property
    def streams(self) -> list[str]:
        """Streams in first-use order; the first one sets the epoch length."""
        seen: list[str] = []
        for t in self.terms:
            for s in t.term.streams:
                if s not in seen:
                    seen.append(s)
        return seen

    @property
    def groups(self) -> list[str]:
        """Gradient groups: one ("all") unless a transform needs them apart (then one per role)."""
        if not self.transforms:
            return ["all"]
        return [g for g in ("train", "forget", "retain", "guide") if any(t.role == g for t in self.terms)]

    def resolved(self) -> dict[str, Any]:
        """What the method computes, defaults included: each term's role, weight, class and parameters,
        each transform's parameters. Part of a run's fingerprint, so a finished run made by a version whose
        method differed (a new default, a new term) is not reused as if it were this one's."""
        def params(obj: Any) -> dict[str, Any]:
            return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else {}

        out: dict[str, Any] = {t.key: {"role": t.role, "weight": t.weight, "term": type(t.term).__name__,
                                       "streams": list(t.term.streams), **params(t.term.params)}
                               for t in self.terms}
        for tr in self.transforms:
            out[f"transform_{type(tr).__name__}"] = params(tr.params) or {"on": True}
        return out

    def group_terms(self, group: str) -> list[WeightedTerm]:
        return [t for t in self.terms if (group == "all" and t.role != "guide") or t.role == group]

    def needs(self, stream: str, terms: list[WeightedTerm] | None = None) -> Needs:
        out = Needs()
        for t in terms if terms is not None else self.terms:
            out = out | t.term.needs().get(stream, Needs())
        return out

    @property
    def needs_reference(self) -> bool:
        return any(self.needs(s).reference for s in self.streams)

    @property
    def needs_reference_model(self) -> bool:
        return any(self.needs(s).reference_model for s in self.streams)

    def refreshes(self) -> dict[str, Refresh]:
        out: dict[str, Refresh] = {}
        for t in self.terms:
            r = t.term.refresh()
            if r is not None:
                out.setdefault(r.stream, r)
        return out


def weighted_loss(terms: list[WeightedTerm], outs: dict[str, Outputs], counts: dict[str, int]
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """sum_k weight_k * loss_sum_k / count_k, and each term's unweighted mean part (keyed by term key).
    counts: each term's number of units (target tokens or sequences) in the global batch."""
    parts: dict[str, torch.Tensor] = {}
    total: torch.Tensor | None = None
    for t in terms:
        part = t.term.loss_sum(outs) / counts[t.key]
        parts[t.key] = part
        total = t.weight * part if total is None else total + t.weight * part
    assert total is not None, "a method needs at least one term"
    return total, parts
