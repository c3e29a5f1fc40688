"""Multiple-choice accuracy on local JSON question sets (SPEC 5.5; WMDP-style {question, choices, label}).

Each choice is scored by the teacher-forced pass as the SUM of its tokens' log-probs given the question,
log p(choice | question). Two predictions, as in the lm-evaluation-harness ("The Language Model
Evaluation Harness", Gao et al., 2021-):
- `acc`:      argmax_i sum_logp_i                      (normalise_by=None)
- `acc_norm`: argmax_i sum_logp_i / len(choice_i)      (normalise_by=[len(c) for c in choices]; the
  harness divides by the choice's length in CHARACTERS, which does not depend on the tokenizer).
Ties go to the lowest index, as numpy.argmax.
"""

from __future__ import annotations

from typing import Sequence

from unlearn.eval.registry import Metric, SampleView, metric


def choice_prediction(choice_logps: Sequence[float], normalise_by: Sequence[int] | None = None) -> int:
    """Index of the best choice by summed log-prob, or by summed log-prob / normalise_by[i] when given
    (character lengths reproduce the harness's acc_norm; token counts give a per-token mean)."""
    if len(choice_logps) == 0:
        raise ValueError("choice prediction needs at least one choice; got an empty choice_logps list")
    scores = list(choice_logps)
    if normalise_by is not None:
        if len(normalise_by) != len(scores):
            raise ValueError(f"choice prediction: {len(normalise_by)} lengths for {len(scores)} choices")
        if any(n <= 0 for n in normalise_by):
            raise ValueError(f"choice prediction: every length must be positive; got {list(normalise_by)}")
        scores = [s / n for s, n in zip(scores, normalise_by)]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def _choice_correct(views: Sequence[SampleView], ctx: object) -> list[float]:
    """1 where the predicted choice is the label, else 0; the dataset's mean is the accuracy."""
    out = []
    for v in views:
        rows = v.seqs("choice")
        pred = choice_prediction([sum(r["token_logps"]) for r in rows], None)
        out.append(1.0 if pred == int(v.record["label"]) else 0.0)
    return out


metric(Metric("mc_accuracy", "multiple-choice accuracy: the choice with the highest log-likelihood (WMDP-style)",
              frozenset({"token_logps"}), ("choice",), _choice_correct, sequences=("choice",),
              paper="WMDP (Li et al., 2024); lm-evaluation-harness's acc", label="MC accuracy"))
