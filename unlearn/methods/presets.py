"""Named presets: the method names the seeds' tables use, with their published defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from unlearn.config import MethodConfig
from unlearn.errors import ConfigError
from unlearn.methods.base import FORGET_OBJECTIVES, RETAIN_REGULARISERS, Method, WeightedTerm


@dataclass(frozen=True)
class Preset:
    forget: str
    retain: str = "none"
    gamma: float = 1.0
    alpha: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    reference: str = "auto"
    cite: str = ""


PRESETS: dict[str, Preset] = {
    "GA": Preset("ga", cite="Jang et al. 2023; TOFU (Maini et al. 2024)"),
    "GA_GDR": Preset("ga", "gdr", cite="GradDiff; TOFU (Maini et al. 2024)"),
    "GA_KLR": Preset("ga", "klr", cite="TOFU (Maini et al. 2024)"),
    "NPO": Preset("npo", cite="Zhang et al. 2024"),
    "NPO_GDR": Preset("npo", "gdr", cite="Zhang et al. 2024"),
    "NPO_KLR": Preset("npo", "klr", cite="Zhang et al. 2024"),
    "IDK": Preset("idk", cite="TOFU (Maini et al. 2024)"),
    "IDK_GDR": Preset("idk", "gdr", cite="TOFU (Maini et al. 2024)"),
    "finetune": Preset("finetune", cite="plain fine-tuning: makes target and retain models"),
}


def build_method(cfg: MethodConfig) -> Method:
    """Resolve a MethodConfig (preset + overrides) into a Method of weighted terms."""
    if cfg.name == "custom":
        if not cfg.forget:
            raise ConfigError("method.name=custom needs method.forget (and optionally method.retain)")
        preset = Preset(cfg.forget, cfg.retain or "none")
    elif cfg.name in PRESETS:
        preset = PRESETS[cfg.name]
    else:
        raise ConfigError(f"unknown method {cfg.name!r}; valid: {', '.join(sorted(PRESETS))}, custom")
    forget_name = cfg.forget or preset.forget
    retain_name = cfg.retain or preset.retain
    forget_cls = FORGET_OBJECTIVES.get(forget_name)
    retain_cls = RETAIN_REGULARISERS.get(retain_name)
    params = {**preset.params, **cfg.params}
    valid = {f.name for cls in (forget_cls, retain_cls) for f in dataclasses.fields(cls.Params)}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ConfigError(
            f"unknown method.params key {unknown[0]!r} for {forget_name}+{retain_name}; "
            f"valid: {', '.join(sorted(valid)) or 'none'}"
        )

    def make(cls):
        names = {f.name for f in dataclasses.fields(cls.Params)}
        return cls(cls.Params(**{k: v for k, v in params.items() if k in names}))

    gamma = preset.gamma if cfg.gamma is None else cfg.gamma
    alpha = preset.alpha if cfg.alpha is None else cfg.alpha
    if gamma == 0 and (retain_name == "none" or alpha == 0):
        raise ConfigError("every loss weight is 0: set method.gamma (forget) or method.alpha (retain) above 0")
    role = "train" if forget_name == "finetune" else "forget"
    # Zero-weight terms are left out, so their streams and reference passes are never computed.
    terms = [WeightedTerm(role, forget_name, gamma, make(forget_cls))] if gamma != 0 else []
    if retain_name != "none" and alpha != 0:
        terms.append(WeightedTerm("retain", retain_name, alpha, make(retain_cls)))
    return Method(cfg.name, terms)


def describe_methods() -> str:
    """The text `unlearn methods` prints."""
    lines = ["Presets (method.name):"]
    for name, p in PRESETS.items():
        parts = p.forget + ("" if p.retain == "none" else f" + {p.retain}")
        lines.append(f"  {name:<10} {parts:<14} gamma={p.gamma} alpha={p.alpha}  [{p.cite}]")
    lines.append("")
    lines.append("Forget objectives (method.forget) and retain regularisers (method.retain):")
    for kind, reg in (("forget", FORGET_OBJECTIVES), ("retain", RETAIN_REGULARISERS)):
        for name, cls in reg.items():
            defaults = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(cls.Params))
            needs = [n for n, flag in (("ref log-probs", cls.needs_ref_logps), ("ref logits", cls.needs_ref_logits)) if flag]
            extra = f"  params: {defaults}" if defaults else ""
            need = f"  needs: {', '.join(needs)}" if needs else ""
            lines.append(f"  {kind:<6} {name:<9} stream={cls.stream:<11} {cls.summary}{extra}{need}")
    return "\n".join(lines)
