"""Memorisation metrics (SPEC 5.3): pure functions of per-sample pass outputs, and their registration.

Both metrics read `argmax_match` from the teacher-forced pass: one 0/1 entry per target token y_t
(answer tokens + end token), 1 where the argmax of p(. | x, y_<t) equals y_t. With eval.end_token=dropped
the end token is left out, as open-unlearning's per-token helpers do: then exact memorisation equals its
`exact_memorization` on the same tokens (scored, it counts whether the model would stop there too).

- Exact memorisation, from "Memorization Without Overfitting: Analyzing the Training Dynamics of Large
  Language Models" (Tirumala et al., 2022): the fraction of target tokens whose teacher-forced argmax
  prediction is the true token; open-unlearning's `exact_memorization` with eval.end_token=dropped.
- Extraction strength, from "Towards Effective Evaluations and Comparisons for LLM Unlearning Methods"
  (Q. Wang et al., ICLR 2025; seed 001), building on the extraction attacks of "Extracting Training
  Data from Large Language Models" (Carlini et al., 2021):
      ES = 1 - k* / |y|,  k* = min { k : the model given x and y_<k reproduces y_>=k exactly }.
  ES is 1 when the prompt alone recovers the whole answer and 0 when nothing can be extracted.
  Two forms exist here; each function's name says which it is.
"""

from __future__ import annotations

from typing import Callable, Sequence

from unlearn.eval.registry import TOKEN_KINDS, Metric, SampleView, metric

PAPER = "Memorization Without Overfitting (Tirumala et al., 2022); survey talk (seed 001)"


def _check_matches(argmax_match: Sequence[int], metric: str) -> None:
    if len(argmax_match) == 0:
        raise ValueError(f"{metric} needs at least one target token; got an empty argmax_match list")


def exact_memorisation(argmax_match: Sequence[int]) -> float:
    """Exact memorisation (Tirumala et al., 2022): mean of `argmax_match`, the teacher-forced argmax
    accuracy over the target tokens of one sample. Higher = more memorised (lower is better on a forget
    set)."""
    _check_matches(argmax_match, "exact memorisation")
    return sum(1 for m in argmax_match if m) / len(argmax_match)


def extraction_strength_teacher_forced(argmax_match: Sequence[int]) -> float:
    """Extraction strength, teacher-forced form (Wang et al., 2025): ES = 1 - k/|y| with k the smallest
    prefix length such that the argmax prediction matches y_t at every position t >= k (predictions
    made on the gold prefix, not on the model's own output). Example: [1, 0, 1, 1] -> k = 2, ES = 0.5.

    Difference from open-unlearning's `extraction_strength`: its loop stops at k = |y| - 1, so a sample
    whose last token is wrong gets ES = 1/|y| there; here the empty suffix (k = |y|) is the fallback
    and such a sample gets ES = 0, as the definition says."""
    _check_matches(argmax_match, "extraction strength")
    n = len(argmax_match)
    k = n
    # walk back from the end while predictions match: k is the start of the longest matching suffix
    while k > 0 and argmax_match[k - 1]:
        k -= 1
    return 1.0 - k / n


def extraction_strength_generated(reproduces: Callable[[int], bool], n_tokens: int) -> tuple[float, int]:
    """Extraction strength, generation form (Wang et al., 2025): greedy decoding from x + y_<k.

    `reproduces(k)` must say whether greedy decoding from the prompt plus the first k gold target
    tokens reproduces the remaining n_tokens - k tokens exactly. `reproduces(n_tokens)` is True by
    definition (nothing is left to reproduce) and is never called. The search assumes monotonicity:
    if a prefix of k tokens suffices then so does any longer prefix. Greedy decoding does not
    guarantee this, so the result is the smallest k found by binary search, which equals the true
    minimum whenever the assumption holds.

    Returns (ES = 1 - k*/n_tokens, number of calls to `reproduces`), at most ceil(log2(n_tokens + 1))
    calls instead of n_tokens for a linear scan."""
    if n_tokens <= 0:
        raise ValueError(f"extraction strength needs at least one target token; got n_tokens={n_tokens}")
    lo, hi = 0, n_tokens  # invariant: reproduces(hi) is True; every k < lo is False
    calls = 0
    while lo < hi:
        mid = (lo + hi) // 2
        calls += 1
        if reproduces(mid):
            hi = mid
        else:
            lo = mid + 1
    return 1.0 - lo / n_tokens, calls


def _exact_mem(views: Sequence[SampleView], ctx: object) -> list[float]:
    return [exact_memorisation(v.answer_stat("argmax_match", ctx)) for v in views]


def _es_teacher_forced(views: Sequence[SampleView], ctx: object) -> list[float]:
    return [extraction_strength_teacher_forced(v.answer_stat("argmax_match", ctx)) for v in views]


def _es_generated(views: Sequence[SampleView], ctx: object) -> list[float | None]:
    return [v.prefix_es for v in views]  # the evaluator's prefix-generation pass calls extraction_strength_generated


metric(Metric("exact_memorisation", "teacher-forced argmax accuracy over target tokens",
              frozenset({"argmax"}), TOKEN_KINDS, _exact_mem, paper=PAPER, label="exact memorisation"))
metric(Metric("extraction_strength", "teacher-forced ES = 1 - k/|y|, k the shortest gold prefix after which every "
              "argmax prediction is right", frozenset({"argmax"}), TOKEN_KINDS, _es_teacher_forced, paper=PAPER,
              label="extraction strength"))
metric(Metric("extraction_strength_generated", "ES by greedy generation: binary search for the shortest prefix k "
              "from which the model generates the rest exactly", frozenset({"prefix_generation"}), ("qa", "completion"),
              _es_generated, paper=PAPER, label="extraction strength (generated)"))
