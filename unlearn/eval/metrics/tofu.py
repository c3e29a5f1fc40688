"""TOFU's metrics (SPEC 5.1): pure functions of per-sample numbers, and their registration.

"TOFU: A Task of Fictitious Unlearning for LLMs" (Maini et al., 2024), section 2.2:
- Probability: P(y|x) = exp(-NLL_sum / |y|), length-normalised; on real authors / world facts the
  normalised form P_true / (P_true + sum P_perturbed).
- ROUGE-L recall of the greedy answer against y (rouge-score, Porter stemmer).
- Truth ratio R = geometric mean over perturbed answers of P(perturbed) / P(paraphrased) (general sets:
  / P(original answer)). Forget reports mean min(R, 1/R); other sets report mean max(0, 1 - R).
- Forget quality: p-value of the two-sample Kolmogorov-Smirnov test between the per-sample truth ratios
  R of the unlearned model and of the retain model (KS is invariant to R -> 1/R, so the direction of
  R does not matter).
- Model utility: harmonic mean of {probability, ROUGE-L, truth ratio} on {retain, real authors, world facts}.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

from unlearn.eval.registry import HIGHER, Derived, Direction, Metric, SampleView, derived, metric, result_key
from unlearn.eval.results import DerivedContext, check_same_samples

PAPER = "TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)"


def length_normalised_prob(nll_sum: float, n_tokens: int) -> float:
    """P(y|x)^(1/|y|) = exp(-NLL_sum / |y|)."""
    return math.exp(-nll_sum / max(n_tokens, 1))


def normalised_prob(true_prob: float, perturbed_probs: Sequence[float]) -> float:
    """P_true / (P_true + sum P_perturbed), for sets scored against wrong alternatives."""
    denom = true_prob + sum(perturbed_probs)
    return true_prob / denom if denom > 0 else 0.0


def truth_ratio(base_prob: float, perturbed_probs: Sequence[float]) -> float:
    """R = (prod_j P(perturbed_j))^(1/m) / P(base), base = paraphrased (or original) answer.
    Computed in log space; probabilities are clamped at 1e-300 to stay finite."""
    if not perturbed_probs:
        raise ValueError("truth ratio needs at least one perturbed answer")
    logs = [math.log(max(p, 1e-300)) for p in perturbed_probs]
    return math.exp(sum(logs) / len(logs) - math.log(max(base_prob, 1e-300)))


def truth_ratio_forget_stat(r: float) -> float:
    """min(R, 1/R): 1 when true and wrong answers are equally likely (nothing known)."""
    return min(r, 1.0 / r) if r > 0 else 0.0


def truth_ratio_retain_stat(r: float) -> float:
    """max(0, 1 - R): near 1 when the true answer is far more likely than the wrong ones."""
    return max(0.0, 1.0 - r)


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l_recall(generated: str, reference: str) -> float:
    """ROUGE-L recall of a generation against the reference answer (rouge-score, Porter stemmer)."""
    return _scorer().score(reference, generated)["rougeL"].recall


def forget_quality(truth_ratios: Sequence[float], retain_model_truth_ratios: Sequence[float]) -> float:
    """p-value of scipy's two-sample KS test between the two models' per-sample truth ratios R."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(list(truth_ratios), list(retain_model_truth_ratios)).pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean; 0 if any value is 0 (as scipy.stats.hmean)."""
    if not values:
        raise ValueError("harmonic mean of nothing")
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def seq_prob(row: dict[str, list]) -> float:
    """Length-normalised probability of one scored sequence, from its per-token log-probs."""
    logps = row["token_logps"]
    return length_normalised_prob(-sum(logps), len(logps))


# -- per-sample values from the shared passes ---------------------------------------------------

def _prob(views: Sequence[SampleView], ctx: object) -> list[float]:
    out = []
    for v in views:
        p = seq_prob(v.sequences["answer"])
        perturbed = v.seqs("perturbed")
        out.append(normalised_prob(p, [seq_prob(s) for s in perturbed]) if v.role == "general" and perturbed else p)
    return out


def _truth_ratio_raw(views: Sequence[SampleView], ctx: object) -> list[float]:
    """R per sample: perturbed vs the paraphrase (vs the original answer on general sets)."""
    out = []
    for v in views:
        base = v.sequences["answer"] if v.role == "general" else v.sequences["paraphrased"]
        out.append(truth_ratio(seq_prob(base), [seq_prob(s) for s in v.seqs("perturbed")]))
    return out


def _truth_ratio(views: Sequence[SampleView], ctx: object) -> list[float]:
    stat = truth_ratio_forget_stat if views and views[0].role == "forget" else truth_ratio_retain_stat
    return [stat(r) for r in _truth_ratio_raw(views, ctx)]


def _truth_ratio_prob_mean(views: Sequence[SampleView], ctx: object) -> list[float]:
    """open-unlearning's third aggregator (`prob_mean`, the TOFU paper's P_true / (P_true + P_false)):
    per sample 1 / (1 + R), R the raw truth ratio, averaged as is."""
    return [1.0 / (1.0 + r) for r in _truth_ratio_raw(views, ctx)]


def _rouge_recall(views: Sequence[SampleView], ctx: object) -> list[float]:
    return [rouge_l_recall(v.generation or "", v.cut_target or v.target_text) for v in views]


metric(Metric("prob", "P(y|x)^(1/|y|); normalised over true and perturbed answers on general sets",
              frozenset({"token_logps"}), ("qa",), _prob, sequences=("answer", "perturbed"), paper=PAPER,
              label="prob"))
metric(Metric("rougeL_recall", "ROUGE-L recall of the greedy answer against y (Porter stemmer)",
              frozenset({"generation"}), ("qa",), _rouge_recall, paper=PAPER, label="ROUGE-L"))
metric(Metric("truth_ratio", "forget: mean min(R, 1/R); other sets: mean max(0, 1 - R)",
              frozenset({"token_logps"}), ("qa",), _truth_ratio, direction=lambda role: HIGHER,
              sequences=("answer", "paraphrased", "perturbed"), requires_alternatives=True, paper=PAPER,
              label="TR", knowledge=-1))
metric(Metric("truth_ratio_prob_mean", "mean of P(true) / (P(true) + P(false)) = 1 / (1 + R) (open-unlearning's "
              "prob_mean aggregator)", frozenset({"token_logps"}), ("qa",), _truth_ratio_prob_mean,
              sequences=("answer", "paraphrased", "perturbed"), requires_alternatives=True, paper=PAPER,
              label="TR (prob mean)"))
metric(Metric("truth_ratio_raw", "R = geometric mean of P(perturbed) / P(paraphrased) (per sample; forget quality's input)",
              frozenset({"token_logps"}), ("qa",), _truth_ratio_raw, direction=lambda role: HIGHER,
              sequences=("answer", "paraphrased", "perturbed"), requires_alternatives=True, aggregate=None,
              paper=PAPER))


# -- derived: forget quality and model utility --------------------------------------------------

def _forget_quality(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
    out: dict[str, tuple[float | None, Direction]] = {}
    for name, values in ctx.model.per_sample.items():
        if ctx.model.roles.get(name) != "forget" or "truth_ratio_raw" not in values:
            continue
        key = "forget_quality" if name == "forget" else f"{name}_forget_quality"
        if ctx.reference is None:
            out[key] = (None, HIGHER)
            ctx.notes[key] = "needs the retain model's evaluation: --retain-model PATH or eval.retain_reference"
            continue
        check_same_samples(ctx, name, key)
        ours = [v for v in values["truth_ratio_raw"] if v is not None]
        theirs = [v for v in ctx.reference.per_sample[name].get("truth_ratio_raw", []) if v is not None]
        out[key] = (forget_quality(ours, theirs) if ours and theirs else None, HIGHER)
    return out


UTILITY_PARTS = ("prob", "rougeL_recall", "truth_ratio")
UTILITY_ROLES = ("retain", "general")
HELD_OUT_ROLES = ("holdout", "general")
"""Sets no unlearning method trains on (a retain regulariser trains on the retain set)."""


def _utility(name: str, roles: tuple[str, ...]):
    """The harmonic mean of UTILITY_PARTS on the sets of `roles`, under `name`."""

    def compute(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
        sets = [n for n, role in ctx.model.roles.items() if role in roles]
        parts = [ctx.model.values[k] for s in sets for m in UTILITY_PARTS
                 if (k := result_key(s, m)) in ctx.model.values and ctx.model.values[k] is not None]
        if not parts:
            return {}
        ctx.notes[name] = f"harmonic mean of {len(parts)} numbers: {{{', '.join(UTILITY_PARTS)}}} on {', '.join(sets)}"
        return {name: (harmonic_mean(parts), HIGHER)}

    return compute


derived(Derived("forget_quality", "p-value of the KS test between this model's and the retain model's truth ratios",
                ("truth_ratio_raw",), _forget_quality, paper=PAPER, roles=("forget",), compares_reference=True,
                label="forget quality", direction=HIGHER))
derived(Derived("model_utility", "harmonic mean of probability, ROUGE-L and truth ratio on retain and general sets",
                UTILITY_PARTS, _utility("model_utility", UTILITY_ROLES), paper=PAPER, roles=UTILITY_ROLES,
                label="model utility", direction=HIGHER))
derived(Derived("held_out_utility", "model utility on the sets no method trains on (holdout and general sets): "
                "collateral damage that a retain regulariser cannot hide", UTILITY_PARTS,
                _utility("held_out_utility", HELD_OUT_ROLES), paper=PAPER + "; computed like its model utility",
                roles=HELD_OUT_ROLES, label="held-out utility", direction=HIGHER))
