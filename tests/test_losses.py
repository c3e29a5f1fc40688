"""Pure losses against values worked out by hand on tiny tensors.

Logits are chosen so that softmax values are simple fractions: a row [ln a, ln b, ln c] has
softmax (a, b, c) / (a + b + c). Expected numbers are computed with `math` from those fractions,
never with the torch operations the implementation uses. Terms and presets: tests/test_methods.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.losses.ascent import ga_sum, nll_sum
from unlearn.losses.divergence import kl_ref_theta_per_token
from unlearn.losses.logprobs import sequence_logps_mean, sequence_logps_sum, target_sum, token_logps_from_logits
from unlearn.losses.preference import npo_per_sequence

LN2, LN3 = math.log(2.0), math.log(3.0)
M = -100  # IGNORE_INDEX, written out so that a changed constant is noticed


# --------------------------------------------------------------------------------------------------
# A hand-made batch: B = 2, L = 4, V = 3.
#
# Row 0: labels [M, 2, 0, 1]  (one prompt token, then a 3-token target)
#   logits[0, 0] = [0, 0, ln 2]   -> softmax (1/4, 1/4, 2/4); scores labels[1] = 2 -> ln(1/2)
#   logits[0, 1] = [ln 3, 0, 0]   -> softmax (3/5, 1/5, 1/5); scores labels[2] = 0 -> ln(3/5)
#   logits[0, 2] = [0, 0, 0]      -> softmax (1/3, 1/3, 1/3); scores labels[3] = 1 -> ln(1/3)
#   logits[0, 3] = anything: the last position scores nothing.
# Row 1: labels [M, M, 1, M]  (two prompt tokens, a 1-token target, one padding position)
#   logits[1, 1] = [0, ln 3, 0]   -> softmax (1/5, 3/5, 1/5); scores labels[2] = 1 -> ln(3/5)
#   every other position of row 1 is prompt or padding and must not count.
# --------------------------------------------------------------------------------------------------
ROW0_EXPECTED = [math.log(1 / 2), math.log(3 / 5), math.log(1 / 3)]
ROW1_EXPECTED = [0.0, math.log(3 / 5), 0.0]


def _batch(junk: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch above; `junk` fills every logit that must not matter."""
    logits = torch.full((2, 4, 3), junk)
    logits[0, 0] = torch.tensor([0.0, 0.0, LN2])
    logits[0, 1] = torch.tensor([LN3, 0.0, 0.0])
    logits[0, 2] = torch.tensor([0.0, 0.0, 0.0])
    logits[1, 1] = torch.tensor([0.0, LN3, 0.0])
    labels = torch.tensor([[M, 2, 0, 1], [M, M, 1, M]])
    return logits, labels


def test_token_logps_hand_values_and_shift():
    logits, labels = _batch()
    token_logps, mask = token_logps_from_logits(logits, labels)
    assert token_logps.shape == (2, 3) and mask.shape == (2, 3)
    # position t scores label t+1: the mask is labels[:, 1:] != -100
    assert mask.tolist() == [[True, True, True], [False, True, False]]
    assert token_logps[0].tolist() == pytest.approx(ROW0_EXPECTED, abs=1e-6)
    assert token_logps[1].tolist() == pytest.approx(ROW1_EXPECTED, abs=1e-6)


def test_prompt_and_padding_logits_contribute_nothing():
    base_logps, base_mask = token_logps_from_logits(*_batch(junk=0.0))
    # extreme values at every prompt / padding / last position change nothing
    junk_logps, junk_mask = token_logps_from_logits(*_batch(junk=50.0))
    assert torch.equal(base_mask, junk_mask)
    assert torch.allclose(base_logps, junk_logps, atol=1e-6)
    # off-target positions are exactly 0
    assert junk_logps[1, 0].item() == 0.0 and junk_logps[1, 2].item() == 0.0

    # and they receive no gradient
    logits, labels = _batch(junk=3.0)
    logits.requires_grad_(True)
    token_logps, mask = token_logps_from_logits(logits, labels)
    sequence_logps_sum(token_logps, mask).sum().backward()
    grad = logits.grad
    assert grad[1, 0].abs().sum().item() == 0.0  # prompt position of row 1
    assert grad[1, 2].abs().sum().item() == 0.0  # position scoring padding
    assert grad[:, 3].abs().sum().item() == 0.0  # last position scores nothing
    assert grad[1, 1].abs().sum().item() > 0.0  # the target position does get one


def test_sequence_reductions_by_hand():
    # Off-target values are deliberately huge: a reduction that forgets the mask is caught.
    values = torch.tensor([[-1.0, -2.0, 99.0], [-3.0, 99.0, 99.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # sum: row 0 -1 + -2 = -3; row 1 -3
    assert sequence_logps_sum(values, mask).tolist() == pytest.approx([-3.0, -3.0])
    # mean per sequence: row 0 -3 / 2 = -1.5; row 1 -3 / 1 = -3
    assert sequence_logps_mean(values, mask).tolist() == pytest.approx([-1.5, -3.0])
    # sum over the batch's target tokens: -1 - 2 - 3 = -6 (what a token-level term returns; the engine
    # divides by the 3 tokens: -2, not the mean of the row means, -2.25)
    assert target_sum(values, mask).item() == pytest.approx(-6.0)


def test_reductions_with_no_target_tokens_are_finite():
    values = torch.tensor([[5.0, 7.0]])
    mask = torch.zeros(1, 2, dtype=torch.bool)
    assert sequence_logps_mean(values, mask).tolist() == [0.0]
    assert target_sum(values, mask).item() == 0.0


def test_nll_and_ga_on_hand_batch():
    token_logps, mask = token_logps_from_logits(*_batch())
    # 4 target tokens: ln(1/2), ln(3/5), ln(1/3) (row 0) and ln(3/5) (row 1)
    expected_nll = -(math.log(1 / 2) + 2 * math.log(3 / 5) + math.log(1 / 3))
    nll = nll_sum(token_logps, mask)
    ga = ga_sum(token_logps, mask)
    assert nll.item() == pytest.approx(expected_nll, abs=1e-6)
    assert nll.item() > 0
    assert ga.item() == pytest.approx(-expected_nll, abs=1e-6)  # GA = -NLL


def test_nll_matches_cross_entropy_of_shifted_labels():
    # the quantity `model(...).loss` returns: cross-entropy of logits[:, :-1] vs labels[:, 1:]
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[M, M, 3, 4, 6], [M, 1, 2, M, M]])
    token_logps, mask = token_logps_from_logits(logits, labels)
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1),
                                           ignore_index=M)
    # the NLL term's sum divided by the batch's target tokens, as the engine divides it
    assert (nll_sum(token_logps, mask) / mask.sum()).item() == pytest.approx(ce.item(), abs=1e-5)


# ----------------------------------------------------------------------------------------- NPO


@pytest.mark.parametrize("beta", [0.1, 1.0, 2.5])
def test_npo_zero_log_ratio_is_2_over_beta_ln2(beta):
    # log sigmoid(0) = ln(1/2)  ->  loss = -(2/beta) ln(1/2) = (2/beta) ln 2
    logps = torch.tensor([-4.0, -10.0])
    loss = npo_per_sequence(logps, logps.clone(), beta)
    assert loss.tolist() == pytest.approx([2 / beta * LN2] * 2, rel=1e-6)


def test_npo_hand_values():
    # beta = 1, log ratio = ln 3: sigmoid(-ln 3) = 1 / (1 + 3) = 1/4 -> loss = -2 ln(1/4) = 2 ln 4
    # beta = 1, log ratio = -ln 3: sigmoid(ln 3) = 3/4 -> loss = -2 ln(3/4)
    logps = torch.tensor([-5.0 + LN3, -5.0 - LN3])
    ref = torch.tensor([-5.0, -5.0])
    assert npo_per_sequence(logps, ref, 1.0).tolist() == pytest.approx(
        [2 * math.log(4), -2 * math.log(3 / 4)], rel=1e-6)
    # beta = 0.5, log ratio = -2 ln 3: -beta * ratio = ln 3 -> sigmoid = 3/4 -> -(2/0.5) ln(3/4)
    loss = npo_per_sequence(torch.tensor([-2 * LN3]), torch.tensor([0.0]), 0.5)
    assert loss.item() == pytest.approx(-4 * math.log(3 / 4), rel=1e-6)


def test_npo_gradient_sign_lowers_logp():
    # d/dx [-(2/beta) ln sigmoid(-beta x)] = 2 sigmoid(beta x): 1 at x = 0, always > 0, so a
    # gradient-descent step on the loss lowers the model's log-likelihood.
    logps = torch.tensor([-3.0, -3.0 + LN3], requires_grad=True)
    ref = torch.tensor([-3.0, -3.0])
    npo_per_sequence(logps, ref, 1.0).sum().backward()
    # x = ln 3, beta 1: 2 sigmoid(ln 3) = 2 * 3/4 = 1.5
    assert logps.grad.tolist() == pytest.approx([1.0, 1.5], rel=1e-6)
    # the reference enters with the opposite sign
    ref_leaf = torch.tensor([-3.0], requires_grad=True)
    npo_per_sequence(torch.tensor([-3.0]), ref_leaf, 1.0).sum().backward()
    assert ref_leaf.grad.item() == pytest.approx(-1.0)  # d/dref = -d/dx = -2 sigmoid(0)

    # end to end: one SGD step on the logits through the NPO loss lowers log p(y | x)
    logits, labels = _batch()
    logits.requires_grad_(True)
    token_logps, mask = token_logps_from_logits(logits, labels)
    before = sequence_logps_sum(token_logps, mask).detach()
    npo_per_sequence(sequence_logps_sum(token_logps, mask), before.clone(), 0.1).mean().backward()
    with torch.no_grad():
        stepped = logits - 0.5 * logits.grad
    after = sequence_logps_sum(*token_logps_from_logits(stepped, labels))
    assert (after < before).all()


# ------------------------------------------------------------------------------------------ KL


def test_kl_zero_for_identical_logits():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    kl = kl_ref_theta_per_token(logits, logits.clone())
    assert kl.shape == (2, 3)
    assert kl.abs().max().item() < 1e-6
    # adding a constant per position changes no distribution
    assert kl_ref_theta_per_token(logits + 4.0, logits).abs().max().item() < 1e-5


def test_kl_two_token_vocab_by_hand_and_direction():
    # p_ref = softmax([0, 0]) = (1/2, 1/2); p_theta = softmax([ln 3, 0]) = (3/4, 1/4)
    # KL(p_ref || p_theta) = 1/2 ln((1/2)/(3/4)) + 1/2 ln((1/2)/(1/4)) = 1/2 ln(2/3) + 1/2 ln 2
    expected = 0.5 * math.log(2 / 3) + 0.5 * math.log(2)
    # the other direction, KL(p_theta || p_ref) = 3/4 ln(3/2) + 1/4 ln(1/2), must not come out
    reverse = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert abs(expected - reverse) > 1e-2
    theta = torch.tensor([[[LN3, 0.0]]])
    ref = torch.tensor([[[0.0, 0.0]]])
    kl = kl_ref_theta_per_token(theta, ref)
    assert kl.shape == (1, 1)
    assert kl.item() == pytest.approx(expected, abs=1e-6)


def test_kl_gradient_by_hand():
    # d KL(p_ref || p_theta) / d z_theta = p_theta - p_ref = (3/4 - 1/2, 1/4 - 1/2) = (1/4, -1/4)
    theta = torch.tensor([[[LN3, 0.0]]], requires_grad=True)
    kl_ref_theta_per_token(theta, torch.tensor([[[0.0, 0.0]]])).sum().backward()
    assert theta.grad.flatten().tolist() == pytest.approx([0.25, -0.25], abs=1e-6)


def test_chunked_kl_equals_the_plain_formula_on_a_view(monkeypatch):
    """Forced into many chunks, on logits[:, :-1] (a view, as the engine passes them): the values and the
    gradient of a weighted sum equal the textbook formula's, differentiated by autograd in float64."""
    import unlearn.losses.divergence as divergence

    monkeypatch.setattr(divergence, "CHUNK_ELEMENTS", 22)  # 2 positions of an 11-token vocabulary per chunk
    torch.manual_seed(0)
    full = torch.randn(3, 8, 11, requires_grad=True)
    ref = torch.randn(3, 7, 11)
    weights = torch.rand(3, 7)
    kl = kl_ref_theta_per_token(full[:, :-1, :], ref)
    (kl * weights).sum().backward()
    theta = full.detach().double().requires_grad_(True)
    ref_logp = torch.log_softmax(ref.double(), -1)
    plain = (ref_logp.exp() * (ref_logp - torch.log_softmax(theta[:, :-1, :], -1))).sum(-1)
    (plain * weights.double()).sum().backward()
    assert torch.allclose(kl.double(), plain.detach(), atol=1e-6)
    assert torch.allclose(full.grad.double(), theta.grad, atol=1e-6)
    assert full.grad[:, -1].abs().max() == 0  # the dropped last position gets no gradient


# --------------------------------------------------------------------------- non-finite logits


def test_minus_inf_logits_off_target_do_not_make_nan():
    """A -inf logit at a prompt/padding position must not leak NaN (-inf * 0) into the losses."""
    from unlearn.losses.divergence import kl_ref_theta_per_token
    from unlearn.losses.logprobs import sequence_logps_sum, token_logps_from_logits

    logits = torch.zeros(1, 3, 2)
    logits[0, 0, 0] = float("-inf")  # position 0 predicts a prompt token (label -100)
    labels = torch.tensor([[-100, -100, 1]])
    token_logps, mask = token_logps_from_logits(logits, labels)
    assert torch.isfinite(token_logps).all()
    assert sequence_logps_sum(token_logps, mask).item() == pytest.approx(math.log(0.5))
    ref = torch.tensor([[[0.0, float("-inf")]]])
    kl = kl_ref_theta_per_token(torch.tensor([[[0.0, 0.0]]]), ref)
    assert kl.item() == pytest.approx(math.log(2))  # p_ref = (1, 0): KL = 1 * (log 1 - log 1/2)
