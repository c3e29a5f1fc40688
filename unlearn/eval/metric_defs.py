"""The metrics of SPEC section 5, registered with what they need and which way is better.

Each `compute` reads the shared passes' per-sample outputs (`SampleView`) and calls a pure function of
`unlearn.eval.metrics` (TOFU), `.memorisation`, `.privacy`, `.text_metrics` or `.choice`, where the
definitions and their papers are documented.
"""

from __future__ import annotations

import math
from typing import Sequence

from unlearn.eval import metrics as M
from unlearn.eval.registry import (HIGHER, Metric, SampleView, closest_to,
                                   metric)

QA_LIKE = ("qa", "completion", "text")


def seq_prob(row: dict[str, list]) -> float:
    """Length-normalised probability exp(mean log p) of one scored sequence."""
    logps = row["token_logps"]
    return math.exp(sum(logps) / max(len(logps), 1))


# -- TOFU (SPEC 5.1) ----------------------------------------------------------------------------

def _prob(views: Sequence[SampleView], ctx: object) -> list[float]:
    out = []
    for v in views:
        p = seq_prob(v.sequences["answer"])
        perturbed = v.seqs("perturbed")
        out.append(M.normalised_prob(p, [seq_prob(s) for s in perturbed]) if v.role == "general" and perturbed else p)
    return out


def _truth_ratio_raw(views: Sequence[SampleView], ctx: object) -> list[float]:
    """R per sample: perturbed vs the paraphrase (vs the original answer on general sets)."""
    out = []
    for v in views:
        base = v.sequences["answer"] if v.role == "general" else v.sequences["paraphrased"]
        out.append(M.truth_ratio(seq_prob(base), [seq_prob(s) for s in v.seqs("perturbed")]))
    return out


def _truth_ratio(views: Sequence[SampleView], ctx: object) -> list[float]:
    stat = M.truth_ratio_forget_stat if views and views[0].role == "forget" else M.truth_ratio_retain_stat
    return [stat(r) for r in _truth_ratio_raw(views, ctx)]


def _rouge_recall(views: Sequence[SampleView], ctx: object) -> list[float]:
    return [M.rouge_l_recall(v.generation or "", v.target_text) for v in views]


TOFU_PAPER = "TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024)"
metric(Metric("prob", "P(y|x)^(1/|y|); normalised over true and perturbed answers on general sets",
              frozenset({"token_logps"}), ("qa",), _prob, sequences=("answer", "perturbed"), paper=TOFU_PAPER))
metric(Metric("rougeL_recall", "ROUGE-L recall of the greedy answer against y (Porter stemmer)",
              frozenset({"generation"}), ("qa",), _rouge_recall, paper=TOFU_PAPER))
metric(Metric("truth_ratio", "forget: mean min(R, 1/R); other sets: mean max(0, 1 - R)",
              frozenset({"token_logps"}), ("qa",), _truth_ratio, direction=lambda role: HIGHER,
              sequences=("answer", "paraphrased", "perturbed"), requires_alternatives=True, paper=TOFU_PAPER))
metric(Metric("truth_ratio_raw", "R = geometric mean of P(perturbed) / P(paraphrased) (per sample; forget quality's input)",
              frozenset({"token_logps"}), ("qa",), _truth_ratio_raw, direction=lambda role: HIGHER,
              sequences=("answer", "paraphrased", "perturbed"), requires_alternatives=True, aggregate=None,
              paper=TOFU_PAPER))


# -- MUSE (SPEC 5.2) ----------------------------------------------------------------------------

def _rouge_f1(views: Sequence[SampleView], ctx: object) -> list[float]:
    from unlearn.eval.text_metrics import rouge_l_f1

    return [rouge_l_f1(v.generation or "", v.target_text) for v in views]


def _knowmem(views: Sequence[SampleView], ctx: object) -> list[float]:
    """KnowMem's answer ends where a base model starts the next question (MUSE's stop strings)."""
    from unlearn.eval.text_metrics import cut_at_first, rouge_l_f1

    return [rouge_l_f1(cut_at_first(v.generation or ""), v.target_text) for v in views]


MUSE_PAPER = "MUSE: Machine Unlearning Six-Way Evaluation for Language Models (Shi et al., 2024)"
metric(Metric("verbmem", "VerbMem: ROUGE-L F1 of the continuation of a forget-text prefix against the true one",
              frozenset({"generation"}), ("completion",), _rouge_f1, paper=MUSE_PAPER))
metric(Metric("knowmem", "KnowMem: ROUGE-L F1 of the answer to a question about the text",
              frozenset({"generation"}), ("qa",), _knowmem, paper=MUSE_PAPER))


# -- Memorisation (SPEC 5.3) --------------------------------------------------------------------

def _exact_mem(views: Sequence[SampleView], ctx: object) -> list[float]:
    from unlearn.eval.memorisation import exact_memorisation

    return [exact_memorisation(v.sequences["answer"]["argmax_match"]) for v in views]


def _es_teacher_forced(views: Sequence[SampleView], ctx: object) -> list[float]:
    from unlearn.eval.memorisation import extraction_strength_teacher_forced

    return [extraction_strength_teacher_forced(v.sequences["answer"]["argmax_match"]) for v in views]


def _es_generated(views: Sequence[SampleView], ctx: object) -> list[float | None]:
    return [v.prefix_es for v in views]


MEM_PAPER = "Memorization Without Overfitting (Tirumala et al., 2022); survey talk (seed 001)"
metric(Metric("exact_memorisation", "teacher-forced argmax accuracy over target tokens",
              frozenset({"argmax"}), QA_LIKE, _exact_mem, paper=MEM_PAPER))
metric(Metric("extraction_strength", "teacher-forced ES = 1 - k/|y|, k the shortest gold prefix after which every "
              "argmax prediction is right", frozenset({"argmax"}), QA_LIKE, _es_teacher_forced, paper=MEM_PAPER))
metric(Metric("extraction_strength_generated", "ES by greedy generation: binary search for the shortest prefix k "
              "from which the model generates the rest exactly", frozenset({"prefix_generation"}), ("qa", "completion"),
              _es_generated, paper=MEM_PAPER))


# -- Membership inference (SPEC 5.3): per-sample scores; AUCs are derived ----------------------

def _mia(fn_name: str, field: str = "token_logps"):
    def compute(views: Sequence[SampleView], ctx: object) -> list[float]:
        from unlearn.eval import privacy

        fn = getattr(privacy, fn_name)
        if fn_name == "zlib_score":
            return [fn(v.sequences["answer"]["token_logps"], v.target_text) for v in views]
        if fn_name == "gradnorm_score":
            return [fn(v.grad_norm) for v in views]
        if fn_name == "reference_score":
            return [fn(v.sequences["answer"]["token_logps"], v.reference["token_logps"]) for v in views]
        return [fn(v.sequences["answer"][field]) for v in views]

    return compute


MIA_ATTACKS = {
    "loss": ("loss_score", frozenset({"token_logps"}), "minus the mean NLL of the target (LOSS attack)"),
    "zlib": ("zlib_score", frozenset({"token_logps"}), "minus the mean NLL over the zlib-compressed length of the text"),
    "min_k": ("min_k_score", frozenset({"token_logps"}), "mean of the lowest 40% token log-probs (Min-K%)"),
    "min_k_pp": ("min_k_plus_plus_score", frozenset({"token_logps", "dist_stats"}),
                 "Min-K%++: mean of the lowest 40% per-token z-scores against the vocabulary distribution"),
    "gradnorm": ("gradnorm_score", frozenset({"gradient"}), "L2 norm of the gradient of the sample's loss"),
    "reference": ("reference_score", frozenset({"token_logps", "reference_model"}),
                  "loss difference against a reference model"),
}
for _attack, (_fn, _needs, _desc) in MIA_ATTACKS.items():
    metric(Metric(f"mia_{_attack}", f"membership score: {_desc} (per sample; higher = more likely a member)",
                  _needs, QA_LIKE, _mia(_fn, "mink_pp" if _attack == "min_k_pp" else "token_logps"),
                  direction=lambda role: closest_to(0.5), aggregate=None,
                  paper="Shi et al., 2024 (Min-K%); Zhang et al., 2024 (Min-K%++); Carlini et al., 2021 (zlib)"))


# -- Multiple choice (SPEC 5.5) -----------------------------------------------------------------

def _choice_correct(views: Sequence[SampleView], ctx: object) -> list[float]:
    from unlearn.eval.choice import choice_prediction

    out = []
    for v in views:
        rows = v.seqs("choice")
        pred = choice_prediction([sum(r["token_logps"]) for r in rows], None)
        out.append(1.0 if pred == int(v.record["label"]) else 0.0)
    return out


metric(Metric("mc_accuracy", "multiple-choice accuracy: the choice with the highest log-likelihood (WMDP-style)",
              frozenset({"token_logps"}), ("choice",), _choice_correct, sequences=("choice",),
              paper="WMDP (Li et al., 2024); lm-evaluation-harness's acc"))


