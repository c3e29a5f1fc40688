"""MUSE's knowledge and verbatim memorisation (SPEC 5.2): VerbMem and KnowMem, and their registration.

"MUSE: Machine Unlearning Six-Way Evaluation for Language Models" (Shi et al., 2024): ROUGE-L
F-measure (rouge-score's `rougeL`, not `rougeLsum`) of the generation against the reference, with
use_stemmer=False as in MUSE's code (TOFU's ROUGE-L recall, with the Porter stemmer, is
`unlearn.eval.metrics.tofu.rouge_l_recall`). MUSE cuts KnowMem answers at the first "\\n\\n",
"\\nQuestion" or "Question:" (`cut_at_first`). VerbMem generates eval.verbmem_tokens (MUSE: 128) tokens
after each prefix and scores them against the true continuation's first eval.verbmem_tokens tokens (the
evaluator cuts it: `SampleView.cut_target`). KnowMem generates eval.knowmem_tokens (MUSE: 32) tokens
after the folder's in-context examples (the muse benchmark puts them in each record's `context`). MUSE's
PrivLeak is with the membership attacks (`.privacy`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from unlearn.eval.registry import Metric, SampleView, metric

PAPER = "MUSE: Machine Unlearning Six-Way Evaluation for Language Models (Shi et al., 2024)"
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


def cut_at_first(text: str, stops: Sequence[str] = MUSE_KNOWMEM_STOPS) -> str:
    """The part of `text` before the earliest occurrence of any stop string (MUSE KnowMem answers)."""
    end = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            end = min(end, at)
    return text[:end]


def _verbmem(views: Sequence[SampleView], ctx: object) -> list[float]:
    """Against the true continuation's first eval.verbmem_tokens tokens (the evaluator cuts it)."""
    return [rouge_l_f1(v.generation or "", v.cut_target or v.target_text) for v in views]


def _knowmem(views: Sequence[SampleView], ctx: object) -> list[float]:
    """KnowMem's answer ends where a base model starts the next question (MUSE's stop strings)."""
    return [rouge_l_f1(cut_at_first(v.generation or ""), v.cut_target or v.target_text) for v in views]


metric(Metric("verbmem", "VerbMem: ROUGE-L F1 of the continuation of a forget-text prefix against the true one",
              frozenset({"generation"}), ("completion",), _verbmem, paper=PAPER, label="VerbMem",
              generation_tokens="verbmem_tokens"))
metric(Metric("knowmem", "KnowMem: ROUGE-L F1 of the answer to a question about the text",
              frozenset({"generation"}), ("qa",), _knowmem, paper=PAPER, label="KnowMem",
              generation_tokens="knowmem_tokens"))
