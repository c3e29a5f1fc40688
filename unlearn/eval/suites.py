"""Named suites, and what an evaluation request computes.

- tofu: probability, ROUGE-L recall, truth ratio; forget quality and model utility (SPEC 5.1)
- muse: VerbMem, KnowMem, and PrivLeak with the Min-K% attack (SPEC 5.2)
- privacy: exact memorisation, extraction strength, the membership attacks LOSS, zlib, Min-K%, Min-K%++
  (and the reference attack when eval.reference_model is set), their AUCs and PrivLeak (SPEC 5.3)
- relearn: KFR, KRR and the linguistic score with its parts (SPEC 5.4)
- general: multiple-choice accuracy (SPEC 5.5)
- harm: the harmful rate on harmful prompts and the refusal rate on ordinary ones (LLMU, seed 003)
- copyright: BLEU and ROUGE-L of text completions, the forget-quality gap, perplexity (FLAT, SPEC 5.7)
Model-level suites are registered by the layers that own them (`unlearn.evidence` registers
robustness: the probes against eval.original_model, SPEC 7). Extra metrics by name with `eval.metrics`
(e.g. mia_gradnorm, extraction_strength_generated, model_utility).

`select` resolves a request: a derived metric brings the metrics it reads, and a per-sample score
brings the derived metric that summarises it, so any name asked for alone is computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearn.core.errors import ConfigError
from unlearn.eval.metrics import DERIVED, METRICS
from unlearn.eval.registry import SUITES, Suite, suite

suite(Suite("tofu", "TOFU's probability, ROUGE-L and truth ratio; forget quality and model utility",
            ("prob", "rougeL_recall", "truth_ratio", "truth_ratio_raw"),
            ("forget_quality", "model_utility", "held_out_utility")))
suite(Suite("muse", "MUSE's VerbMem and KnowMem, and PrivLeak with Min-K%", ("verbmem", "knowmem", "mia_min_k")))
suite(Suite("privacy", "memorisation, extraction strength and membership attacks with their AUCs and PrivLeak",
            ("exact_memorisation", "extraction_strength", "mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_pp"),
            with_reference_model=("mia_reference",)))
suite(Suite("relearn", "ReLearn's KFR, KRR and linguistic score with its parts",
            ("kfr", "krr", "gen_ppl", "brunet_index", "honore_statistic"), ("linguistic_score",)))
suite(Suite("general", "multiple-choice accuracy", ("mc_accuracy",)))
suite(Suite("harm", "the harmful rate on harmful prompts (seen and unseen) and the refusal rate and ROUGE-L on "
            "ordinary ones, by the rule scorer; the judge's harmfulness and helpfulness with eval.judge_model",
            ("harmful_rate", "refusal_rate", "rougeL_recall"), with_judge=("judge_harmful", "judge_helpfulness")))
suite(Suite("copyright", "BLEU and ROUGE-L of the continuations of text prefixes, FLAT's forget-quality gap to the "
            "retain model, perplexity of the texts", ("completion_bleu", "completion_rougeL", "text_ppl"),
            ("fq_gap",)))


@dataclass
class Selection:
    metrics: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    model_level: list[Suite] = field(default_factory=list)
    """Suites run on the whole model after the metrics (robustness)."""


def suites_of(suites: list[str], benchmark: str) -> list[str]:
    """eval.suites with "auto" replaced by the benchmark's own suites (its adapter's `suites`)."""
    from unlearn.data.benchmarks import BENCHMARKS

    out: list[str] = []
    for name in suites:
        out.extend(BENCHMARKS.get(benchmark).suites if name == "auto" else [name])
    return list(dict.fromkeys(out))


def select(suites: list[str], extra: list[str], reference_model: bool = False, judge: bool = False) -> Selection:
    """The metrics and derived metrics of the named suites plus `extra` names, each once, in order, with
    everything they need: a derived metric's inputs, a per-sample score's summary. A suite's metrics that
    need a reference model or a judge join when one is set."""
    out = Selection()
    for name in suites:
        if name not in SUITES:
            raise ConfigError(f"unknown suite {name!r}; valid: {', '.join(SUITES.in_order())} (eval.suites or --suite)")
        s = SUITES.get(name)
        metrics = (*s.metrics, *(s.with_reference_model if reference_model else ()), *(s.with_judge if judge else ()))
        for m in (*metrics, *s.derived):
            _add(out, m)
        if s.on_model is not None and s not in out.model_level:
            out.model_level.append(s)
    for name in extra:
        if name not in DERIVED:
            METRICS.get(name)  # an unknown name is a one-line error listing the valid ones
        _add(out, name)
    return out


def _add(out: Selection, name: str) -> None:
    """Add a metric or derived metric and, first, what it reads; then what summarises it."""
    if name in DERIVED:
        if name in out.derived:
            return
        for needed in DERIVED.get(name).inputs:
            _add(out, needed)
        out.derived.append(name)
        return
    if name not in out.metrics:
        out.metrics.append(name)
        summary = METRICS.get(name).summarised_by
        if summary:
            _add(out, summary)
