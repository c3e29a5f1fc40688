"""Multiple-choice scoring for local JSON question sets (SPEC 5.5; WMDP-style {question, choices, label}).

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


def multiple_choice_accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Fraction of questions whose predicted index equals the label. Higher is better (on a forget set
    such as WMDP, near chance is the goal)."""
    if len(predictions) != len(labels):
        raise ValueError(f"multiple-choice accuracy: {len(predictions)} predictions for {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("multiple-choice accuracy needs at least one question; got none")
    return sum(1 for p, y in zip(predictions, labels) if p == y) / len(labels)
