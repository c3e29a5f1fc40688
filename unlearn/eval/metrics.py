"""TOFU metrics (SPEC 5.1) as pure functions of per-sample numbers.

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


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
