"""Pure metric functions (SPEC 5.2, 5.3, 5.5) against numbers worked out by hand or by an independent
library (zlib, scikit-learn, rouge-score)."""

import math
import zlib

import pytest

from unlearn.eval.metrics import METRICS
from unlearn.eval.metrics.choice import choice_prediction
from unlearn.eval.metrics.memorisation import (
    exact_memorisation,
    extraction_strength_generated,
    extraction_strength_teacher_forced,
)
from unlearn.eval.metrics.muse import cut_at_first, rouge_l_f1
from unlearn.eval.metrics.privacy import (
    gradnorm_score,
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    privleak,
    reference_score,
    zlib_score,
)
from unlearn.eval.metrics.relearn import perplexity
from unlearn.eval.metrics.tofu import rouge_l_recall
from unlearn.eval.registry import SampleView

# ---- memorisation -------------------------------------------------------------------------------


def test_exact_memorisation_is_argmax_accuracy():
    # 3 of 4 tokens predicted right
    assert exact_memorisation([1, 0, 1, 1]) == pytest.approx(0.75)
    assert exact_memorisation([True, True]) == 1.0


@pytest.mark.parametrize("matches, expected", [
    ([1, 0, 1, 1], 0.5),        # suffix from position 2 matches: k = 2, 1 - 2/4
    ([1, 1, 1, 1], 1.0),        # k = 0: the prompt alone recovers everything
    ([0, 1, 1, 1, 1], 0.8),     # k = 1: 1 - 1/5
    ([1, 1, 1, 0], 0.0),        # last token wrong: only the empty suffix matches, k = 4
    ([0], 0.0),
])
def test_extraction_strength_teacher_forced(matches, expected):
    assert extraction_strength_teacher_forced(matches) == pytest.approx(expected)


def test_extraction_strength_generated_binary_search_counts_calls():
    asked = []

    def reproduces(k):  # monotone stub: a prefix of 3 or more gold tokens suffices
        asked.append(k)
        return k >= 3

    es, calls = extraction_strength_generated(reproduces, 8)
    # lo=0, hi=8: ask 4 (True) -> hi=4; ask 2 (False) -> lo=3; ask 3 (True) -> hi=3. k*=3, ES = 1 - 3/8
    assert es == pytest.approx(0.625)
    assert calls == 3 and asked == [4, 2, 3]
    assert 8 not in asked  # reproduces(n) is True by definition, never asked


def test_extraction_strength_generated_edges():
    # nothing extractable: only k = n works -> ES 0, ceil(log2(5+1)) = 3 calls at most
    es, calls = extraction_strength_generated(lambda k: False, 5)
    assert es == 0.0 and calls <= 3
    es, _ = extraction_strength_generated(lambda k: True, 5)
    assert es == 1.0
    with pytest.raises(ValueError, match="at least one target token"):
        extraction_strength_generated(lambda k: True, 0)


def test_memorisation_empty_is_one_line_error():
    for fn in (exact_memorisation, extraction_strength_teacher_forced):
        with pytest.raises(ValueError) as err:
            fn([])
        assert "\n" not in str(err.value)


# ---- membership inference --------------------------------------------------------------------------

LOGPS = [-0.1, -2.0, -0.5, -3.0, -1.0]  # sum -6.6, mean -1.32


def test_loss_score_is_mean_logp():
    assert loss_score(LOGPS) == pytest.approx(-1.32)


def test_zlib_score_divides_mean_nll_by_compressed_bytes():
    text = "the cat sat on the mat, the cat sat on the mat"
    zlib_bytes = len(zlib.compress(text.encode("utf-8")))
    # mean NLL = 1.32, negated for "higher = member"
    assert zlib_score(LOGPS, text) == pytest.approx(-1.32 / zlib_bytes)


def test_min_k_by_hand():
    # sorted: -3.0, -2.0, -1.0, -0.5, -0.1
    assert min_k_score(LOGPS) == pytest.approx(-2.5)          # k=0.4: floor(2.0) = 2 lowest
    assert min_k_score(LOGPS, k=0.2) == pytest.approx(-3.0)   # floor(1.0) = 1
    assert min_k_score(LOGPS, k=0.7) == pytest.approx(-2.0)   # floor(3.5) = 3: (-3-2-1)/3
    assert min_k_score(LOGPS, k=0.1) == pytest.approx(-3.0)   # floor(0.5) = 0 -> at least 1
    assert min_k_score(LOGPS, k=1.0) == pytest.approx(-1.32)  # all tokens = loss score


def test_min_k_plus_plus_by_hand():
    z = [0.5, -1.5, 2.0, -0.25, 1.0]  # sorted: -1.5, -0.25, 0.5, 1.0, 2.0
    assert min_k_plus_plus_score(z) == pytest.approx(-0.875)        # (-1.5 - 0.25) / 2
    assert min_k_plus_plus_score(z, k=0.6) == pytest.approx(-1.25 / 3)  # (-1.5 - 0.25 + 0.5) / 3
    with pytest.raises(ValueError, match="k must be in"):
        min_k_plus_plus_score(z, k=0.0)


def test_gradnorm_and_reference_scores():
    assert gradnorm_score(2.5) == -2.5
    # target mean logp -1.32, reference mean logp (-2 - 4) / 2 = -3 -> -1.32 + 3 = 1.68
    assert reference_score(LOGPS, [-2.0, -4.0]) == pytest.approx(1.68)
    with pytest.raises(ValueError):
        gradnorm_score(float("nan"))


def test_mia_auc_hand_counted_and_sklearn():
    forget = [0.9, 0.8, 0.6]
    holdout = [0.5, 0.3, 0.85]
    # pairs with forget > holdout: 0.9 beats 3, 0.8 beats 0.5 and 0.3, 0.6 beats 0.5 and 0.3 -> 7 of 9
    assert mia_auc(forget, holdout) == pytest.approx(7 / 9)
    # a tie counts 1/2: (1 vs 2: 0, 1 vs 0: 1, 2 vs 2: 0.5, 2 vs 0: 1) -> 2.5 / 4
    assert mia_auc([1.0, 2.0], [2.0, 0.0]) == pytest.approx(0.625)

    from sklearn.metrics import auc, roc_auc_score, roc_curve

    f, h = [0.2, 1.4, 0.7, 0.9], [0.1, 0.8, 0.3]
    assert mia_auc(f, h) == pytest.approx(roc_auc_score([1] * 4 + [0] * 3, f + h))
    # MUSE's own recipe (forget labelled 0, holdout 1, roc_curve on -loss, then auc) gives 1 - ours
    forget_losses, holdout_losses = [1.0, 1.5, 3.0], [2.0, 2.5, 0.5]
    fpr, tpr, _ = roc_curve([0] * 3 + [1] * 3, [-x for x in forget_losses + holdout_losses])
    ours = mia_auc([loss_score([-x]) for x in forget_losses], [loss_score([-x]) for x in holdout_losses])
    assert ours == pytest.approx(1 - auc(fpr, tpr))


def test_privleak_by_hand():
    # memorised forget set: AUC 0.9 vs retrained 0.5 -> (0.1 - 0.5) / 0.5 * 100 = -80
    assert privleak(0.9, 0.5) == pytest.approx(-80.0)
    # over-unlearned: AUC 0.3 vs retrained 0.6 -> (0.7 - 0.4) / 0.4 * 100 = 75
    assert privleak(0.3, 0.6) == pytest.approx(75.0)
    assert privleak(0.55, 0.55) == pytest.approx(0.0)


def test_privacy_errors_are_one_line_value_errors():
    for call in (lambda: mia_auc([], [0.1]), lambda: mia_auc([0.1], []),
                 lambda: privleak(0.7, 1.0), lambda: privleak(1.2, 0.5),
                 lambda: loss_score([]), lambda: zlib_score([-1.0], ""), lambda: min_k_score([])):
        with pytest.raises(ValueError) as err:
            call()
        assert "\n" not in str(err.value)


# ---- text metrics ---------------------------------------------------------------------------------


def test_rouge_l_f1_matches_rouge_score():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [
        ("Harry walked into the great hall", "Harry Potter walked slowly into the Great Hall"),
        ("the answer is Paris", "Paris"),
        ("nothing in common", "completely different words"),
    ]
    for generated, reference in pairs:
        assert rouge_l_f1(generated, reference) == pytest.approx(
            scorer.score(reference, generated)["rougeL"].fmeasure)


def test_rouge_l_f1_hand_lcs():
    # reference 6 tokens, generation 4 tokens, LCS "the cat on mat" = 4: P = 1, R = 2/3, F = 0.8
    assert rouge_l_f1("the cat on mat", "the cat sat on the mat") == pytest.approx(0.8)
    # rouge-score stems only with use_stemmer (cats -> cat, running -> run)
    assert rouge_l_f1("cat run", "cats running") == 0.0
    assert rouge_l_f1("cat run", "cats running", use_stemmer=True) == pytest.approx(1.0)
    # the shared TOFU recall helper: R = 4/6
    assert rouge_l_recall("the cat on mat", "the cat sat on the mat") == pytest.approx(4 / 6)


def test_perplexity_and_stops():
    assert perplexity([-1.0, -3.0]) == pytest.approx(math.exp(2.0))
    assert perplexity([0.0]) == 1.0
    assert cut_at_first("Paris\nQuestion: next\n\nmore") == "Paris"
    assert cut_at_first("no stop here") == "no stop here"


# ---- multiple choice -------------------------------------------------------------------------------


def test_choice_prediction_acc_and_acc_norm():
    logps = [-5.0, -3.0, -4.0]
    assert choice_prediction(logps) == 1                          # largest sum: -3
    assert choice_prediction(logps, normalise_by=[10, 2, 1]) == 0  # -0.5, -1.5, -4.0
    assert choice_prediction([-2.0, -2.0]) == 0                   # tie -> lowest index
    with pytest.raises(ValueError):
        choice_prediction(logps, normalise_by=[1, 2])


def test_multiple_choice_accuracy():
    """The registered metric on four questions whose choices' log-probs put the best at 0, 1, 2, 1 while
    the labels are 0, 1, 1, 1: three right, accuracy 3/4."""
    def view(i, best, label):
        logps = [[-3.0, -1.0], [-2.0, -2.5], [-4.0]]
        logps.insert(best, [-0.5])  # the best choice: the highest summed log-prob
        return SampleView(i, {"question": "q", "choices": ["a"] * 4, "label": label}, "forget", "choice",
                          {f"choice/{j}": {"token_logps": lp} for j, lp in enumerate(logps)})

    mc = METRICS.get("mc_accuracy")
    values = mc.compute([view(0, 0, 0), view(1, 1, 1), view(2, 2, 1), view(3, 1, 1)], None)
    assert values == [1.0, 1.0, 0.0, 1.0] and mc.aggregate(values) == pytest.approx(0.75)
