"""Presets (SPEC 3.4): the method names the seeds' tables use, as lists of weighted terms with their
published defaults, plus optional gradient transforms ("NPO+GRU") and a reference strategy.

A preset is registered beside the term it is built on (`unlearn.methods.terms.*`), with the record
`unlearn methods` and docs/methods.md's table print (`Doc`). A term in a preset (`T`) names a
registered loss term and may pass it streams and parameters: NLL on the retain set is
`T("nll", role="retain", streams=("retain",))`. Terms used under a name of their own (gdr, idk, ...)
are registered once as named terms, which presets and `method.name=custom` both use.

Parameters are namespaced by term key: `method.params.npo.beta=0.2`, `method.params.gru.gamma=0.9`.
They are type-checked against each term's Params dataclass when the method is built, before any
model is loaded. `method.weights.KEY=w` sets one term's weight; `method.gamma` / `method.alpha`
multiply the weights of all forget / retain terms.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from unlearn.config import MethodConfig, deep_merge, from_dict
from unlearn.core.errors import ConfigError
from unlearn.core.registry import Registry
from unlearn.methods.base import TERMS, TRANSFORMS, Method, WeightedTerm


@dataclass(frozen=True)
class T:
    """One term of a preset: a registered loss term (or a named term), its weight, its role (the gradient
    group: forget, retain or train), and optionally its key, streams and what it is called."""

    term: str
    weight: float = 1.0
    role: str = "forget"
    key: str | None = None
    streams: tuple[str, ...] | None = None
    """The data streams the term reads; default: the term's own."""
    summary: str = ""
    cite: str = ""
    formula: str = ""

    @property
    def name(self) -> str:
        return self.key or self.term


@dataclass(frozen=True)
class Doc:
    """A preset's row in docs/methods.md (presets sharing one Doc object share the row)."""

    loss: str
    paper: str
    defaults: str = ""
    needs: str = ""
    differs: str = ""
    """What the authors' or the reference code does differently, and the option that gives it."""


@dataclass(frozen=True)
class Preset:
    terms: tuple[T, ...]
    transforms: tuple[str, ...] = ()
    reference: str = "auto"
    cite: str = ""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    doc: Doc | None = None
    """None: not an unlearning method of the docs' table (plain fine-tuning)."""


PRESETS: Registry[Preset] = Registry("method")
NAMED_TERMS: Registry[T] = Registry("term")


def preset(name: str, p: Preset, aliases: tuple[str, ...] = ()) -> Preset:
    """Register a preset (from this package or from outside it) under `name`; the papers' spellings
    (`aliases`, and the name with dashes for underscores: FLAT-TV, CE-U) name it too."""
    PRESETS.add(name, p)
    for alias in dict.fromkeys((*aliases, name.replace("_", "-"))):
        if alias != name:
            PRESETS.alias(alias, name)
    return p


def named_term(t: T) -> T:
    """Register a term under its key (gdr = NLL on the retain set), for presets and method.name=custom."""
    NAMED_TERMS.add(t.name, t)
    return t


def _custom(cfg: MethodConfig) -> Preset:
    """method.name=custom: method.forget (and method.retain) name a loss term or a named term."""
    if not cfg.forget:
        raise ConfigError("method.name=custom needs method.forget (and optionally method.retain)")
    terms = [(cfg.forget, "forget")] + ([(cfg.retain, "retain")] if cfg.retain and cfg.retain != "none" else [])
    out = []
    for name, role in terms:
        if name in NAMED_TERMS:
            out.append(dataclasses.replace(NAMED_TERMS.get(name), role=role, weight=1.0))
            continue
        if name not in TERMS:
            valid = ", ".join(sorted({*TERMS, *NAMED_TERMS}))
            raise ConfigError(f"unknown loss term {name!r}; valid: {valid}")
        out.append(T(name, role=role))
    return Preset(tuple(out))


def _resolve_preset(cfg: MethodConfig) -> tuple[str, Preset, list[str]]:
    """The preset named by cfg.name ("NPO", "NPO_GDR+GRU", "custom") and its transforms."""
    base, *suffixes = cfg.name.split("+")
    base = PRESETS.canonical(base)
    transforms = [s.lower() for s in suffixes] + [t.lower() for t in cfg.transforms]
    if base == "custom":
        chosen = _custom(cfg)
    elif base in PRESETS:
        chosen = PRESETS.get(base)
        if cfg.forget or cfg.retain:
            raise ConfigError(f"method.forget / method.retain apply to method.name=custom, not to {base}; "
                              f"use method.name=custom method.forget=... method.retain=...")
    else:
        valid = ", ".join(PRESETS)
        raise ConfigError(f"unknown method {base!r}; valid: {valid}, custom (add +GRU, +SURE or +DGS)")
    for name in transforms:
        TRANSFORMS.get(name)  # unknown transform: one-line error listing the valid ones
    return base, chosen, list(dict.fromkeys(chosen.transforms + tuple(transforms)))


def _with_guide(terms: list[T], transforms: list[str]) -> list[T]:
    """A transform that reads a retain gradient (GRU, DGS) gets GDR as a guide term (read, never applied)
    when the preset has no retain term of its own."""
    reads_retain = any(TRANSFORMS.get(t).reads_retain for t in transforms)
    if reads_retain and not any(t.role == "retain" for t in terms):
        return [*terms, dataclasses.replace(NAMED_TERMS.get("gdr"), role="guide")]
    return terms


def _check_params(cfg_params: dict[str, Any], keys: dict[str, type], method: str) -> None:
    for key, value in cfg_params.items():
        if key in keys:
            if not isinstance(value, dict):
                raise ConfigError(f"method.params.{key} must be a mapping of {key}'s parameters, "
                                  f"e.g. method.params.{key}.NAME=VALUE")
            if value and not dataclasses.fields(keys[key]):
                raise ConfigError(f"method.params.{key}.{next(iter(value))}: {key} has no parameters")
            continue
        owners = [k for k, cls in keys.items() if key in {f.name for f in dataclasses.fields(cls)}]
        listing = ", ".join(f"{k} ({', '.join(f.name for f in dataclasses.fields(c)) or 'no parameters'})"
                            for k, c in keys.items())
        if owners:
            raise ConfigError(f"method.params.{key}: parameters are set per term, e.g. "
                              f"method.params.{owners[0]}.{key}={value}; terms of {method}: {listing}")
        raise ConfigError(f"method.params.{key}: {method} has no term or transform {key!r}; its terms: {listing}")


def _check_weights(weights: dict[str, Any], keys: list[str], method: str) -> dict[str, float]:
    out = {}
    for key, value in weights.items():
        if key not in keys:
            raise ConfigError(f"method.weights.{key}: {method} has no term {key!r}; its terms: {', '.join(keys)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"method.weights.{key} must be a number, got {value!r}")
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"method.weights.{key} must be a number, got {value!r}") from None
        if not math.isfinite(out[key]):
            raise ConfigError(f"method.weights.{key} must be a finite number, got {value!r}")
    return out


def _check_signs(cfg: MethodConfig, weights: dict[str, float]) -> None:
    """Weights below 0 flip a term (a negative forget weight trains towards the forget set): refused
    unless method.allow_negative_weights is set."""
    if cfg.allow_negative_weights:
        return
    given = {"method.gamma": cfg.gamma, "method.alpha": cfg.alpha, **{f"method.weights.{k}": v for k, v in weights.items()}}
    for key, value in given.items():
        if value is not None and not value >= 0:
            raise ConfigError(f"{key} must be at least 0 (got {value}): a negative weight turns its term around "
                              "(a forget term then trains towards the forget set); set "
                              "method.allow_negative_weights=true if that is meant")


def build_method(cfg: MethodConfig) -> Method:
    """Resolve a MethodConfig (preset + overrides) into a Method; every option is checked here,
    before any model is loaded."""
    base, chosen, transform_names = _resolve_preset(cfg)
    specs = _with_guide(list(chosen.terms), transform_names)
    classes = {s.name: TERMS.get(s.term) for s in specs}
    param_classes = {**{k: c.Params for k, c in classes.items()},
                     **{t: TRANSFORMS.get(t).Params for t in transform_names}}
    params = deep_merge(chosen.params, cfg.params)
    _check_params(params, param_classes, cfg.name)
    weights = _check_weights(cfg.weights, list(classes), cfg.name)
    _check_signs(cfg, weights)
    alpha = 1.0 if cfg.alpha is None else cfg.alpha
    scale = {"forget": 1.0 if cfg.gamma is None else cfg.gamma, "retain": alpha, "guide": alpha, "train": 1.0}

    def typed(key: str) -> Any:
        return from_dict(param_classes[key], dict(params.get(key, {})), f"method.params.{key}")

    terms = []
    for s in specs:
        weight = weights.get(s.name, s.weight * scale[s.role])
        if weight != 0:  # zero-weight terms are left out: their streams and reference passes never run
            term = classes[s.name](typed(s.name), s.streams)
            terms.append(WeightedTerm(s.name, s.role, weight, term, s.summary, s.cite, s.formula))
    if not any(t.role in ("forget", "train") for t in terms):
        raise ConfigError("every forget term's weight is 0: set method.gamma or method.weights above 0")
    transforms = [TRANSFORMS.get(t)(typed(t)) for t in transform_names]
    for name in transform_names:
        cls = TRANSFORMS.get(name)
        needed = [*cls.groups, *(["retain"] if cls.reads_retain else [])]
        missing = [g for g in needed if not any(t.role == g or (g, t.role) == ("retain", "guide") for t in terms)]
        if missing:
            raise ConfigError(f"the {name} transform needs a {missing[0]} term with a non-zero weight, and "
                              f"{cfg.name} has none after weights of 0 are dropped; raise its weight")
    return Method(cfg.name, terms, transforms, chosen.reference, chosen.cite)
