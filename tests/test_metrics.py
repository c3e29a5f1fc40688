"""TOFU metrics (SPEC 5.1) on numbers and strings worked out by hand."""

from __future__ import annotations

import math

import pytest
from scipy.stats import hmean, ks_2samp

from unlearn.eval.metrics.tofu import (
    forget_quality,
    harmonic_mean,
    length_normalised_prob,
    normalised_prob,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_forget_stat,
    truth_ratio_retain_stat,
)


def test_length_normalised_prob():
    # NLL_sum = 3 ln 2 over 3 tokens: exp(-ln 2) = 1/2 (the unnormalised P would be 1/8)
    assert length_normalised_prob(3 * math.log(2), 3) == pytest.approx(0.5)
    # NLL_sum = 2 ln 10 over 4 tokens: exp(-ln(10)/2) = 1/sqrt(10)
    assert length_normalised_prob(2 * math.log(10), 4) == pytest.approx(1 / math.sqrt(10))
    assert length_normalised_prob(0.0, 5) == pytest.approx(1.0)


def test_normalised_prob():
    # 0.5 / (0.5 + 0.25 + 0.25) = 0.5
    assert normalised_prob(0.5, [0.25, 0.25]) == pytest.approx(0.5)
    # 0.2 / (0.2 + 0.3 + 0.5) = 0.2
    assert normalised_prob(0.2, [0.3, 0.5]) == pytest.approx(0.2)
    # 0.6 / (0.6 + 0.2) = 0.75
    assert normalised_prob(0.6, [0.2]) == pytest.approx(0.75)
    assert normalised_prob(0.0, [0.0, 0.0]) == 0.0


def test_truth_ratio_is_geometric_mean_over_base():
    # perturbed 0.1 and 0.4: geometric mean sqrt(0.04) = 0.2 (arithmetic would be 0.25);
    # divided by P(base) 0.5 -> 0.4
    assert truth_ratio(0.5, [0.1, 0.4]) == pytest.approx(0.4)
    # three perturbed: (0.1 * 0.2 * 0.4) ** (1/3) = 0.008 ** (1/3) = 0.2; / 0.08 -> 2.5
    assert truth_ratio(0.08, [0.1, 0.2, 0.4]) == pytest.approx(2.5)
    # one perturbed equals base -> 1
    assert truth_ratio(0.3, [0.3]) == pytest.approx(1.0)


def test_truth_ratio_survives_zero_probabilities():
    r = truth_ratio(0.5, [0.0, 0.4])
    assert math.isfinite(r) and 0.0 <= r < 1e-100


def test_truth_ratio_forget_stat():
    assert truth_ratio_forget_stat(0.4) == pytest.approx(0.4)
    assert truth_ratio_forget_stat(2.5) == pytest.approx(0.4)  # min(2.5, 1/2.5)
    assert truth_ratio_forget_stat(1.0) == pytest.approx(1.0)
    assert truth_ratio_forget_stat(0.0) == 0.0


def test_truth_ratio_retain_stat():
    assert truth_ratio_retain_stat(0.4) == pytest.approx(0.6)
    assert truth_ratio_retain_stat(0.0) == pytest.approx(1.0)
    assert truth_ratio_retain_stat(2.5) == 0.0  # max(0, 1 - 2.5)


def test_harmonic_mean():
    # 3 / (1/1 + 1/0.5 + 1/0.25) = 3 / 7
    assert harmonic_mean([1.0, 0.5, 0.25]) == pytest.approx(3 / 7)
    assert harmonic_mean([0.2, 0.8, 0.5, 0.9]) == pytest.approx(float(hmean([0.2, 0.8, 0.5, 0.9])))
    assert harmonic_mean([0.7]) == pytest.approx(0.7)
    assert harmonic_mean([0.5, 0.0, 0.9]) == 0.0
    with pytest.raises(ValueError):
        harmonic_mean([])


def test_forget_quality_is_ks_pvalue():
    a = [0.1, 0.3, 0.35, 0.5, 0.7, 0.9]
    b = [0.2, 0.25, 0.6, 0.65, 0.8]
    assert forget_quality(a, b) == pytest.approx(float(ks_2samp(a, b).pvalue))
    assert forget_quality(a, list(a)) == pytest.approx(1.0)
    # completely separated samples: KS statistic 1, small p-value
    far = [10.0 + x for x in a]
    assert forget_quality(a, far) == pytest.approx(float(ks_2samp(a, far).pvalue))
    assert forget_quality(a, far) < 0.01
    # tuples are accepted as sequences
    assert forget_quality(tuple(a), tuple(b)) == pytest.approx(float(ks_2samp(a, b).pvalue))


def test_rouge_l_recall_by_hand():
    # LCS("the cat sat on the mat", "the cat on mat") = "the cat on mat": 4 of 6 reference tokens
    assert rouge_l_recall("the cat on mat", "the cat sat on the mat") == pytest.approx(4 / 6)
    # argument order matters: recall is over the reference (here "cat mat": 2 of 2); precision would be 2/6
    assert rouge_l_recall("the cat sat on the mat", "cat mat") == pytest.approx(1.0)
    # order is respected: reversed words share an LCS of 1 word of 3
    assert rouge_l_recall("c b a", "a b c") == pytest.approx(1 / 3)
    assert rouge_l_recall("", "a b c") == 0.0
    assert rouge_l_recall("The Cat, sat!", "the cat sat") == pytest.approx(1.0)  # lower case, punctuation


def test_rouge_l_recall_uses_porter_stemmer():
    # "running" stems to "run": LCS("he was running fast", "he run fast") = he run fast -> 3/4
    # (without the stemmer only "he fast" would match: 2/4)
    assert rouge_l_recall("he run fast", "he was running fast") == pytest.approx(3 / 4)
    assert rouge_l_recall("cats", "cat") == pytest.approx(1.0)
