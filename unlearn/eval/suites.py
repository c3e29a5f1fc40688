"""Named suites: which metrics and derived metrics an evaluation computes.

- tofu: probability, ROUGE-L recall, truth ratio; forget quality and model utility (SPEC 5.1)
- muse: VerbMem, KnowMem, and PrivLeak with the Min-K% attack (SPEC 5.2)
- privacy: exact memorisation, extraction strength, the membership attacks LOSS, zlib, Min-K%, Min-K%++
  (and the reference attack when eval.reference_model is set), their AUCs and PrivLeak (SPEC 5.3)
- relearn: KFR, KRR and the linguistic score with its parts (SPEC 5.4)
- general: multiple-choice accuracy (SPEC 5.5)
- robustness: the probes of unlearn.evidence.robustness against eval.original_model (SPEC 7); run by
  `evaluate` after the metrics, as robustness_<probe>_probed / _returned
Extra metrics by name with `eval.metrics` (e.g. mia_gradnorm, extraction_strength_generated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearn.core.errors import ConfigError

SUITES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tofu": (("prob", "rougeL_recall", "truth_ratio", "truth_ratio_raw"), ("forget_quality", "model_utility")),
    "muse": (("verbmem", "knowmem", "mia_min_k"), ("mia",)),
    "privacy": (("exact_memorisation", "extraction_strength", "mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_pp"),
                ("mia",)),
    "relearn": (("kfr", "krr", "gen_ppl", "brunet_index", "honore_statistic"), ("linguistic_score",)),
    "general": (("mc_accuracy",), ()),
    "robustness": ((), ()),  # not metrics of one model: see unlearn.eval.suite.evaluate
}


@dataclass
class Selection:
    metrics: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)


def select(suites: list[str], extra: list[str], reference_model: bool = False) -> Selection:
    """The metrics and derived metrics of the named suites plus `extra` metric names, in order, once each."""
    from unlearn.eval import load_definitions
    from unlearn.eval.registry import DERIVED, METRICS

    load_definitions()
    out = Selection()
    for suite in suites:
        if suite not in SUITES:
            raise ConfigError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)} (eval.suites or --suite)")
        metrics, derived = SUITES[suite]
        if suite == "privacy" and reference_model:
            metrics = (*metrics, "mia_reference")
        out.metrics += [m for m in metrics if m not in out.metrics]
        out.derived += [d for d in derived if d not in out.derived]
    for name in extra:
        if name in DERIVED:
            out.derived += [name] if name not in out.derived else []
            continue
        METRICS.get(name)  # an unknown name is a one-line error listing the valid ones
        out.metrics += [name] if name not in out.metrics else []
    if any(m.startswith("mia_") for m in out.metrics) and "mia" not in out.derived:
        out.derived.append("mia")
    return out
