"""Membership inference (SPEC 5.2 and 5.3): per-sample scores, their AUC and MUSE's PrivLeak, and their
registration (one metric per attack, one derived AUC per attack).

Sign convention, shared by every score here: HIGHER SCORE = MORE LIKELY A MEMBER (a training sample).
This is the convention of the Min-K% and Min-K%++ papers' code. open-unlearning uses the opposite
(its scores are loss-like: higher = non-member) and compensates by labelling holdout as the positive
class, so its `mia_auc` equals the AUC here.

AUC: `mia_auc(forget, holdout)` is the ROC AUC with the FORGET set as the positive class, i.e. the
probability that a random forget sample scores higher than a random holdout sample (ties count 1/2).
1.0 = the forget set is perfectly recognised as training data, 0.5 = indistinguishable.

MUSE ("MUSE: Machine Unlearning Six-Way Evaluation for Language Models", Shi et al., 2024) labels
forget 0 and holdout 1 and scores -loss, so the AUC it reports is 1 - AUC here (near 0 for a model that
memorised the forget set). Its PrivLeak, (AUC_MUSE - AUC_MUSE_retrain) / AUC_MUSE_retrain x 100, is
therefore `privleak(auc, auc_retrained)` below; it is strongly negative for an under-unlearned model,
strongly positive for an over-unlearned one, near 0 is good. MUSE's default attack is Min-40%
(`forget_holdout_Min-40%`).

Inputs are per-sample pass outputs: `token_logps` (log p(y_t | x, y_<t) per target token), `mink_pp`
(the Min-K%++ per-token z-score), the scored text, `grad_norm`, and a reference model's token_logps.

Which tokens: every target token, the answer's end token included (SPEC 2). open-unlearning's per-token
helpers drop the last target token for Min-K%, Min-K%++ (and gradnorm) but keep it for LOSS and zlib;
eval.end_token=dropped does the same for Min-K% and Min-K%++, so their scores and AUCs equal
open-unlearning's on the same tokens (tests/test_privacy_reference.py). The gradient-norm attack always
scores the whole target.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

from unlearn.eval.metrics.muse import PAPER as MUSE_PAPER
from unlearn.eval.registry import TOKEN_KINDS, Derived, Direction, Metric, SampleView, closest_to, derived, metric
from unlearn.eval.results import DerivedContext, check_same_samples

PAPERS = "Shi et al., 2024 (Min-K%); Zhang et al., 2024 (Min-K%++); Carlini et al., 2021 (zlib)"


def _mean(values: Sequence[float], what: str) -> float:
    if len(values) == 0:
        raise ValueError(f"{what} needs at least one token; got an empty list")
    return sum(values) / len(values)


def loss_score(token_logps: Sequence[float]) -> float:
    """LOSS attack ("Privacy Risk in Machine Learning: Analyzing the Connection to Overfitting",
    Yeom et al., 2018): score = -mean NLL = mean of the target tokens' log-probs."""
    return _mean(token_logps, "loss score")


def zlib_score(token_logps: Sequence[float], text: str) -> float:
    """zlib attack ("Extracting Training Data from Large Language Models", Carlini et al., 2021):
    the log-perplexity (mean NLL over tokens) divided by the zlib entropy of the text, the length in
    bytes of zlib.compress(text.encode("utf-8")) at the default level. Negated for our sign:
    score = -mean NLL / zlib bytes. MUSE, open-unlearning and the Min-K%++ code all use the mean NLL
    (not the sum); `text` is the scored text (MUSE: the whole passage; open-unlearning: the target)."""
    if not text:
        raise ValueError("zlib score needs a non-empty text; got an empty string")
    zlib_bytes = len(zlib.compress(text.encode("utf-8")))
    return _mean(token_logps, "zlib score") / zlib_bytes


def _lowest_k_mean(values: Sequence[float], k: float, what: str) -> float:
    if not 0.0 < k <= 1.0:
        raise ValueError(f"{what}: k must be in (0, 1]; got k={k}")
    if len(values) == 0:
        raise ValueError(f"{what} needs at least one token; got an empty list")
    # floor, as int(len * k) in the Min-K%, Min-K%++ and MUSE code; at least 1 as in open-unlearning
    # (the papers' code takes the mean of an empty slice, NaN, for sequences shorter than 1/k tokens)
    n_lowest = max(1, int(len(values) * k))
    lowest = sorted(values)[:n_lowest]
    return sum(lowest) / n_lowest


def min_k_score(token_logps: Sequence[float], k: float = 0.4) -> float:
    """Min-K% Prob ("Detecting Pretraining Data from Large Language Models", Shi et al., 2024): mean of
    the lowest max(1, floor(k * |y|)) token log-probs. k = 0.4 is MUSE's PrivLeak default (Min-40%).
    Higher = member (the papers' code reports its negation, a loss-like number)."""
    return _lowest_k_mean(token_logps, k, "min-k% score")


def min_k_plus_plus_score(mink_pp: Sequence[float], k: float = 0.4) -> float:
    """Min-K%++ ("Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large Language
    Models", Zhang et al., 2024): mean of the lowest max(1, floor(k * |y|)) per-token z-scores
    (log p(y_t) - mu_t) / sigma_t, mu_t and sigma_t^2 the mean and variance of log p_t(v) under
    v ~ p_t (computed by the teacher-forced pass). Higher = member, as in the paper's code.
    open-unlearning clamps sigma_t^2 at 1e-6 and negates the score."""
    return _lowest_k_mean(mink_pp, k, "min-k%++ score")


def gradnorm_score(grad_norm: float) -> float:
    """Gradient-norm attack (as in open-unlearning, which cites arXiv:2402.17012): members sit near a
    minimum of the loss, so their gradients are small; score = -||grad of the sample's mean NLL||_2 over
    every floating-point parameter, in eval mode, end token included. open-unlearning instead averages
    the per-tensor norms of the parameters that train, in train mode, without the end token: a different
    statistic, which in general ranks samples differently, so the two AUCs can differ."""
    if not math.isfinite(grad_norm) or grad_norm < 0:
        raise ValueError(f"gradnorm score needs a finite non-negative gradient norm; got {grad_norm}")
    return -grad_norm


def reference_score(token_logps: Sequence[float], ref_token_logps: Sequence[float]) -> float:
    """Reference-model attack (Carlini et al., 2021, comparison with a second model; the calibrated loss
    of "On the Importance of Difficulty Calibration in Membership Inference Attacks", Watson et al.,
    2022): score = mean log-prob under the target model - mean log-prob under the reference model
    (= NLL_ref - NLL_target, per-token means). Means, so the two models may tokenise differently.
    Same as open-unlearning's target_loss - ref_loss up to its sign."""
    return _mean(token_logps, "reference score") - _mean(ref_token_logps, "reference score (reference model)")


def mia_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """ROC AUC (sklearn.metrics.roc_auc_score) of separating forget (positive, label 1) from holdout
    (label 0) by a score where higher = member. Equals P(forget score > holdout score) + 1/2 P(tie).
    MUSE reports 1 - this value."""
    if len(forget_scores) == 0 or len(holdout_scores) == 0:
        raise ValueError(f"MIA AUC needs non-empty forget and holdout sets; got {len(forget_scores)} "
                         f"forget and {len(holdout_scores)} holdout scores")
    from sklearn.metrics import roc_auc_score

    labels = [1] * len(forget_scores) + [0] * len(holdout_scores)
    return float(roc_auc_score(labels, list(forget_scores) + list(holdout_scores)))


def privleak(auc: float, auc_retrained: float) -> float:
    """PrivLeak (MUSE, Shi et al., 2024) = ((1 - AUC) - (1 - AUC_retrained)) / (1 - AUC_retrained) x 100,
    with both AUCs from `mia_auc` (forget positive) on the same attack, for the unlearned model and a
    model retrained without the forget set. Near 0 is good; negative = the forget set is still
    recognised (under-unlearning), positive = it is treated as less familiar than unseen data
    (over-unlearning). open-unlearning adds 1e-10 to the denominator; here AUC_retrained = 1 is an error."""
    for name, value in (("AUC", auc), ("retrained AUC", auc_retrained)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"PrivLeak: {name} must be in [0, 1]; got {value}")
    if auc_retrained == 1.0:
        raise ValueError("PrivLeak is undefined when the retrained model's AUC is 1 (division by zero)")
    return ((1.0 - auc) - (1.0 - auc_retrained)) / (1.0 - auc_retrained) * 100.0


# -- registration: a per-sample score per attack, and its AUC (with PrivLeak) ------------------------

def _answer(v: SampleView, stat: str = "token_logps") -> list:
    return v.sequences["answer"][stat]


ATTACKS = {  # name -> (score of one sample's view, needs, description)
    "loss": (lambda v, ctx: loss_score(_answer(v)), frozenset({"token_logps"}),
             "minus the mean NLL of the target (LOSS attack)"),
    "zlib": (lambda v, ctx: zlib_score(_answer(v), v.target_text), frozenset({"token_logps"}),
             "minus the mean NLL over the zlib-compressed length of the text"),
    "min_k": (lambda v, ctx: min_k_score(v.answer_stat("token_logps", ctx)), frozenset({"token_logps"}),
              "mean of the lowest 40% token log-probs (Min-K%)"),
    "min_k_pp": (lambda v, ctx: min_k_plus_plus_score(v.answer_stat("mink_pp", ctx)),
                 frozenset({"token_logps", "dist_stats"}),
                 "Min-K%++: mean of the lowest 40% per-token z-scores against the vocabulary distribution"),
    "gradnorm": (lambda v, ctx: gradnorm_score(v.grad_norm), frozenset({"gradient"}),
                 "L2 norm of the gradient of the sample's loss"),
    "reference": (lambda v, ctx: reference_score(_answer(v), v.reference["token_logps"]),
                  frozenset({"token_logps", "reference_model"}), "loss difference against a reference model"),
}


def _pairs(ctx: DerivedContext) -> list[tuple[str, str, str]]:
    """(forget set, holdout set, key stem): forget <-> holdout, privleak_forget <-> privleak_holdout, ..."""
    out = []
    for name, role in ctx.model.roles.items():
        holdout = name.replace("forget", "holdout")
        if role == "forget" and holdout != name and ctx.model.roles.get(holdout) == "holdout":
            stem = name.replace("forget", "").strip("_")
            out.append((name, holdout, "" if stem in ("", "privleak") else stem + "_"))
    return out


def _auc_of(attack: str):
    """The derived metric of one attack: its AUC on every forget/holdout pair, and PrivLeak against the
    retain model's AUC on the same pair when that evaluation has the attack's scores."""
    metric_name = f"mia_{attack}"

    def compute(ctx: DerivedContext) -> dict[str, tuple[float | None, Direction]]:
        out: dict[str, tuple[float | None, Direction]] = {}
        for forget, holdout, stem in _pairs(ctx):
            f_vals, h_vals = ctx.model.per_sample[forget], ctx.model.per_sample[holdout]
            if metric_name not in f_vals or metric_name not in h_vals:
                continue
            auc = mia_auc(f_vals[metric_name], h_vals[metric_name])
            auc_key, leak_key = f"{stem}mia_{attack}_auc", f"{stem}privleak_{attack}"
            ref = ctx.reference
            if ref is None or any(metric_name not in ref.per_sample.get(s, {}) for s in (forget, holdout)):
                out[auc_key] = (auc, closest_to(0.5))
                ctx.notes[leak_key] = ("PrivLeak needs the retain model's evaluation (--retain-model PATH)" if ref is None
                                       else f"PrivLeak needs the retain model's evaluation with {metric_name} on "
                                            f"{forget} and {holdout}: evaluate it with the same suites")
                continue
            check_same_samples(ctx, forget, leak_key)
            check_same_samples(ctx, holdout, leak_key)
            ref_auc = mia_auc(ref.per_sample[forget][metric_name], ref.per_sample[holdout][metric_name])
            out[auc_key] = (auc, closest_to(ref_auc))
            out[leak_key] = (privleak(auc, ref_auc), closest_to(0.0))
        return out

    return compute


def _scores(score):
    return lambda views, ctx: [score(v, ctx) for v in views]


for _attack, (_score, _needs, _desc) in ATTACKS.items():
    metric(Metric(f"mia_{_attack}", f"membership score: {_desc} (per sample; higher = more likely a member)",
                  _needs, TOKEN_KINDS, _scores(_score), direction=lambda role: closest_to(0.5), aggregate=None,
                  paper=PAPERS, summarised_by=f"mia_{_attack}_auc"))
    derived(Derived(f"mia_{_attack}_auc", f"AUC of the {_attack} attack, forget (members) vs holdout; PrivLeak "
                    "against the retain model's AUC: ((1-AUC) - (1-AUC_ret)) / (1-AUC_ret) x 100",
                    (f"mia_{_attack}",), _auc_of(_attack), paper=MUSE_PAPER, roles=("forget", "holdout"),
                    compares_reference=True, label=f"MIA AUC ({_attack})"))
