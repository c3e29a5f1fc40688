"""Named presets (SPEC 3.4): the method names the seeds' tables use, as lists of weighted terms with
their published defaults, plus optional gradient transforms ("NPO+GRU") and a reference strategy.

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
from unlearn.methods.base import TERMS, TRANSFORMS, Method, WeightedTerm


@dataclass(frozen=True)
class T:
    """One term of a preset: registered term name, weight, role (gradient group), optional key."""

    term: str
    weight: float = 1.0
    role: str = "forget"
    key: str | None = None

    @property
    def name(self) -> str:
        return self.key or self.term


@dataclass(frozen=True)
class Preset:
    terms: tuple[T, ...]
    transforms: tuple[str, ...] = ()
    reference: str = "auto"
    cite: str = ""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


def _r(term: str, weight: float = 1.0) -> T:
    return T(term, weight, role="retain")


TOFU = "TOFU (Maini et al., 2024)"
NPO_CITE = "Negative Preference Optimization (Zhang et al., 2024)"
PRESETS: dict[str, Preset] = {
    "GA": Preset((T("ga"),), cite=f"Jang et al., 2023; {TOFU}"),
    "GA_GDR": Preset((T("ga"), _r("gdr")), cite=f"GradDiff; {TOFU}"),
    "GA_KLR": Preset((T("ga"), _r("klr")), cite=TOFU),
    "NPO": Preset((T("npo"),), cite=NPO_CITE),
    "NPO_GDR": Preset((T("npo"), _r("gdr")), cite=NPO_CITE),
    "NPO_KLR": Preset((T("npo"), _r("klr")), cite=NPO_CITE),
    "IDK": Preset((T("idk"),), cite=TOFU),
    "IDK_GDR": Preset((T("idk"), _r("gdr")), cite=TOFU),
    "DPO": Preset((T("dpo"),), cite="Rafailov et al., 2023; a refusal preferred over the forget answer"),
    "IdkDPO": Preset((T("dpo"), _r("gdr")), cite=f"{TOFU}; open-unlearning's IdkDPO"),
    "Mismatch": Preset((T("mismatch"),), cite="LLMU (Yao et al., 2024), random-answer term alone"),
    "LLMU": Preset((T("ga", 0.5), T("mismatch", 1.0), _r("klr", 1.0)),
                   cite="Large Language Model Unlearning (Yao et al., 2024): eps1 0.5, eps2 1, eps3 1"),
    "BS_S": Preset((T("ga", 0.5), T("ga_sampled", 0.5)),
                   cite="Bootstrapping, sequence level (survey, seed 001): lam 0.5 = the two weights"),
    "RMU": Preset((T("rmu"), _r("rmu_retain", 100.0)),
                  cite="The WMDP Benchmark (Li et al., 2024): alpha 100, c 6.5"),
    "WGA": Preset((T("wga"), _r("gdr")), cite="Wang et al., 2025 (WGA), with GDR as in open-unlearning"),
    "SatImp": Preset((T("satimp", 0.1), _r("gdr")), cite="Yang et al., 2025 (SatImp): gamma 0.1, with GDR"),
    "TNPO": Preset((T("tnpo"), _r("gdr")), cite="token-wise NPO (b 4), with GDR"),
    "TS": Preset((T("ts"),), cite="temperature-scaled GA (T 2)"),
    "SimNPO": Preset((T("simnpo", 0.125), _r("gdr")),
                     cite="Simplicity Prevails (Fan et al., 2024): beta 4.5, delta 0, gamma 0.125, with GDR"),
    "UNDIAL": Preset((T("undial"),), cite="UNDIAL (Dong et al., 2024): beta 10"),
    "CE_U": Preset((T("ceu"),), cite="CE-U (2025): no retain term"),
    "BS_T": Preset((T("bst"),), cite="Bootstrapping, token level (survey, seed 001): lam 0.5, K 20"),
    **{f"FLAT_{label}": Preset((T("flat"),), params={"flat": {"divergence": label.lower()}},
                               cite=f"LLM Unlearning via Loss Adjustment with Only Forget Data (Wang et al., 2025): {label}")
       for label in ("TV", "KL", "JS", "Pearson")},
    "ReLearn": Preset((T("relearn"), _r("gdr"), _r("klr")),
                      cite="ReLearn (Xu et al., 2025): L_GDF + L_GDR + L_KLR; augmented set from data.augmented"),
    "TRU": Preset((T("tru"), T("ga")), cite="TRU: NLL on reasoning refusals (data.targets) + lam GA, lam 1"),
    "finetune": Preset((T("finetune", role="train"),), cite="plain fine-tuning: makes target and retain models"),
}


def _resolve_preset(cfg: MethodConfig) -> tuple[str, Preset, list[str]]:
    """The preset named by cfg.name ("NPO", "NPO_GDR+GRU", "custom") and its transforms."""
    base, *suffixes = cfg.name.split("+")
    transforms = [s.lower() for s in suffixes] + [t.lower() for t in cfg.transforms]
    if base == "custom":
        if not cfg.forget:
            raise ConfigError("method.name=custom needs method.forget (and optionally method.retain)")
        terms = [T(cfg.forget)] + ([_r(cfg.retain)] if cfg.retain and cfg.retain != "none" else [])
        preset = Preset(tuple(terms))
    elif base in PRESETS:
        preset = PRESETS[base]
        if cfg.forget or cfg.retain:
            raise ConfigError(f"method.forget / method.retain apply to method.name=custom, not to {base}; "
                              f"use method.name=custom method.forget=... method.retain=...")
    else:
        valid = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown method {base!r}; valid: {valid}, custom (add +GRU, +SURE or +DGS)")
    for name in transforms:
        TRANSFORMS.get(name)  # unknown transform: one-line error listing the valid ones
    return base, preset, list(dict.fromkeys(preset.transforms + tuple(transforms)))


def _with_retain_group(terms: list[T], transforms: list[str]) -> list[T]:
    """A transform that needs a retain gradient (GRU) gets GDR when the preset has no retain term."""
    needs_retain = any("retain" in TRANSFORMS.get(t).groups for t in transforms)
    if needs_retain and not any(t.role == "retain" for t in terms):
        return [*terms, _r("gdr")]
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
    base, preset, transform_names = _resolve_preset(cfg)
    specs = _with_retain_group(list(preset.terms), transform_names)
    classes = {s.name: TERMS.get(s.term) for s in specs}
    param_classes = {**{k: c.Params for k, c in classes.items()},
                     **{t: TRANSFORMS.get(t).Params for t in transform_names}}
    params = deep_merge(preset.params, cfg.params)
    _check_params(params, param_classes, cfg.name)
    weights = _check_weights(cfg.weights, list(classes), cfg.name)
    _check_signs(cfg, weights)
    scale = {"forget": 1.0 if cfg.gamma is None else cfg.gamma, "retain": 1.0 if cfg.alpha is None else cfg.alpha,
             "train": 1.0}

    def typed(key: str) -> Any:
        return from_dict(param_classes[key], dict(params.get(key, {})), f"method.params.{key}")

    terms = []
    for s in specs:
        weight = weights.get(s.name, s.weight * scale[s.role])
        if weight != 0:  # zero-weight terms are left out: their streams and reference passes never run
            terms.append(WeightedTerm(s.name, s.role, weight, classes[s.name](typed(s.name))))
    if not any(t.role in ("forget", "train") for t in terms):
        raise ConfigError("every forget term's weight is 0: set method.gamma or method.weights above 0")
    transforms = [TRANSFORMS.get(t)(typed(t)) for t in transform_names]
    for name in transform_names:
        missing = [g for g in TRANSFORMS.get(name).groups if not any(t.role == g for t in terms)]
        if missing:
            raise ConfigError(f"the {name} transform needs a {missing[0]} term with a non-zero weight, and "
                              f"{cfg.name} has none after weights of 0 are dropped; raise its weight")
    return Method(cfg.name, terms, transforms, preset.reference, preset.cite)
