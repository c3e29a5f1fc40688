"""Text metrics on generations (SPEC 5.2, 5.3): ROUGE-L F1 for MUSE, perplexity of generated text.

- VerbMem and KnowMem ("MUSE: Machine Unlearning Six-Way Evaluation for Language Models", Shi et al.,
  2024): ROUGE-L F-measure (rouge-score's `rougeL`, not `rougeLsum`) of the generation against the
  reference, with use_stemmer=False in MUSE's code; the TOFU ROUGE-L recall (with the Porter stemmer)
  lives in `unlearn.eval.metrics.rouge_l_recall` and is re-exported here. MUSE also cuts KnowMem
  answers at the first "\\n\\n", "\\nQuestion" or "Question:" (`cut_at_first`) and truncates the VerbMem
  reference to the first 128 tokens; both are the caller's job.
- Perplexity of generated text: exp(mean NLL) over its tokens, measured by a fixed scorer model (SPEC
  5.3; ReLearn, seed 000) - this function only does the arithmetic on the scorer's token log-probs.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

from unlearn.eval.metrics import rouge_l_recall

__all__ = ["rouge_l_f1", "rouge_l_recall", "perplexity", "cut_at_first"]

MUSE_KNOWMEM_STOPS = ("\n\n", "\nQuestion", "Question:")


@lru_cache(maxsize=2)
def _rouge_l_scorer(use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)


def rouge_l_f1(generated: str, reference: str, use_stemmer: bool = False) -> float:
    """ROUGE-L F1 (longest common subsequence of rouge-score's lower-cased alphanumeric tokens):
    F = 2PR / (P + R), P = LCS / |generated|, R = LCS / |reference|. Default use_stemmer=False, as MUSE's
    VerbMem/KnowMem code. Higher = more of the reference reproduced."""
    return _rouge_l_scorer(use_stemmer).score(reference, generated)["rougeL"].fmeasure


def perplexity(token_logps: Sequence[float]) -> float:
    """exp(mean NLL) = exp(-mean of token_logps), the scorer model's perplexity of one text. Lower = more
    fluent by the scorer's judgement (a degenerate text can still score low under the model that
    generated it, which is why SPEC 5.3 asks for a fixed scorer)."""
    if len(token_logps) == 0:
        raise ValueError("perplexity needs at least one token; got an empty token_logps list")
    return math.exp(-sum(token_logps) / len(token_logps))


def cut_at_first(text: str, stops: Sequence[str] = MUSE_KNOWMEM_STOPS) -> str:
    """The part of `text` before the earliest occurrence of any stop string (MUSE KnowMem answers)."""
    end = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            end = min(end, at)
    return text[:end]
