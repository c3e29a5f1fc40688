"""Hand-worked checks of the token-weighted, distillation and FLAT forget objectives.

Expected numbers are computed inline with `math` from each formula, never by calling the function
under test. Per-token functions return [B, T]; the caller masks, which `_masked_sum` mimics.
"""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.losses.distill import bst_per_token, ceu_per_token, undial_per_token
from unlearn.losses.fdiv import FLAT_DIVERGENCES, flat_per_sequence, mean_token_prob
from unlearn.losses.token_weighted import satimp_per_token, tnpo_per_token, ts_per_token, wga_per_token


def _masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, torch.zeros_like(values)).sum()


def _softmax(xs):
    m = max(xs)
    es = [math.exp(x - m) for x in xs]
    s = sum(es)
    return [e / s for e in es]


def _log_softmax(xs):
    m = max(xs)
    lse = m + math.log(sum(math.exp(x - m) for x in xs))
    return [x - lse for x in xs]


LOGITS = [[1.0, 2.0, 0.5, -1.0], [0.0, -0.5, 3.0, 1.0]]  # one sequence, T = 2, V = 4
TARGETS = [1, 3]


def _logits(requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor([LOGITS], dtype=torch.float64, requires_grad=requires_grad)


def _targets() -> torch.Tensor:
    return torch.tensor([TARGETS])


# ---------------------------------------------------------------- token-weighted GA

P = [0.5, 0.2, 0.9]
MASK = torch.tensor([[True, True, False]])  # the third position is off-target


def _logps(requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor([[math.log(p) for p in P]], dtype=torch.float64, requires_grad=requires_grad)


def test_wga_value_masking_and_detached_weight():
    beta = 2.0
    logps = _logps(requires_grad=True)
    out = wga_per_token(logps, beta)
    assert out.shape == (1, 3)
    expected = sum(P[i] ** beta * math.log(P[i]) for i in range(2))
    total = _masked_sum(out, MASK)
    assert total.item() == pytest.approx(expected, rel=1e-12)
    total.backward()
    # d/dlogp of sg(p^beta) * logp is p^beta exactly; masked position gets 0.
    assert logps.grad[0, 0].item() == pytest.approx(0.5**beta, rel=1e-12)
    assert logps.grad[0, 1].item() == pytest.approx(0.2**beta, rel=1e-12)
    assert logps.grad[0, 2].item() == 0.0


def test_wga_off_target_zero_logp_is_finite():
    out = wga_per_token(torch.zeros(2, 3), 5.0)
    assert torch.isfinite(out).all() and (out == 0).all()


def test_satimp_value_and_detached_weight():
    b1, b2 = 5.0, 1.0
    logps = _logps(requires_grad=True)
    out = satimp_per_token(logps, b1, b2)
    weights = [P[i] ** b1 * (1 - P[i]) ** b2 for i in range(3)]
    expected = sum(weights[i] * math.log(P[i]) for i in range(2))
    total = _masked_sum(out, MASK)
    assert total.item() == pytest.approx(expected, rel=1e-10)
    total.backward()
    assert logps.grad[0, 0].item() == pytest.approx(weights[0], rel=1e-10)
    assert logps.grad[0, 1].item() == pytest.approx(weights[1], rel=1e-10)
    assert logps.grad[0, 2].item() == 0.0
    # Off-target zeros (p = 1) stay finite, also with beta2 = 0.
    assert torch.isfinite(satimp_per_token(torch.zeros(1, 2), 5.0, 0.0)).all()


def test_tnpo_value_and_detached_weight():
    b = 4.0
    ref_p = [0.25, 0.4, 0.1]
    logps = _logps(requires_grad=True)
    ref = torch.tensor([[math.log(p) for p in ref_p]], dtype=torch.float64)
    out = tnpo_per_token(logps, ref, b)
    weights = [2 * P[i] ** b / (P[i] ** b + ref_p[i] ** b) for i in range(3)]
    total = _masked_sum(out, MASK)
    assert total.item() == pytest.approx(sum(weights[i] * math.log(P[i]) for i in range(2)), rel=1e-10)
    total.backward()
    assert logps.grad[0, 0].item() == pytest.approx(weights[0], rel=1e-10)
    assert logps.grad[0, 1].item() == pytest.approx(weights[1], rel=1e-10)
    # Equal to the reference: weight 1, i.e. plain GA.
    same = tnpo_per_token(ref, ref, b)
    assert torch.allclose(same, ref)


def test_tnpo_eps_in_the_denominator_by_hand():
    """The authors' +1e-5: p = p_ref = 0.05, b = 4 gives p^b = 6.25e-6 and the weight
    2 * 6.25e-6 / (1.25e-5 + 1e-5) = 5/9 = 0.5556 (1.0 without eps); at p = p_ref = 0.02, p^b = 1.6e-7 and
    the weight 3.2e-7 / (3.2e-7 + 1e-5) = 0.0310."""
    for p, expected in ((0.05, 5 / 9), (0.02, 3.2e-7 / (3.2e-7 + 1e-5))):
        logp = torch.tensor([[math.log(p)]], dtype=torch.float64, requires_grad=True)
        out = tnpo_per_token(logp, logp.detach().clone(), 4.0, eps=1e-5)
        out.sum().backward()
        assert logp.grad.item() == pytest.approx(expected, rel=1e-5)  # the weight, detached
        assert tnpo_per_token(logp.detach(), logp.detach(), 4.0).item() == pytest.approx(math.log(p))  # eps 0


def test_tnpo_is_stable_for_tiny_probabilities():
    logps = torch.tensor([[-400.0, -800.0]])
    ref = torch.tensor([[-500.0, -700.0]])
    out = tnpo_per_token(logps, ref, 4.0)
    assert torch.isfinite(out).all()
    # p >> p_ref -> weight 2; p << p_ref -> weight 0.
    assert out[0, 0].item() == pytest.approx(2 * -400.0)
    assert out[0, 1].item() == pytest.approx(0.0, abs=1e-6)


def test_ts_value_and_t1_equals_logp():
    temp = 2.0
    out = ts_per_token(_logits(), _targets(), temp)
    assert out.shape == (1, 2)
    mask = torch.tensor([[True, False]])
    expected = _log_softmax([x / temp for x in LOGITS[0]])[TARGETS[0]]
    assert _masked_sum(out, mask).item() == pytest.approx(expected, rel=1e-6)
    at_one = ts_per_token(_logits(), _targets(), 1.0)
    for t in range(2):
        assert at_one[0, t].item() == pytest.approx(_log_softmax(LOGITS[t])[TARGETS[t]], rel=1e-6)
    with pytest.raises(ValueError):
        ts_per_token(_logits(), _targets(), 0.0)


# ---------------------------------------------------------------- distillation

def test_undial_value():
    beta = 3.0
    ref_logits = [[0.5, 1.5, 0.0, 0.2], [1.0, 0.0, 2.0, -0.5]]
    out = undial_per_token(_logits(), torch.tensor([ref_logits], dtype=torch.float64), _targets(), beta)
    mask = torch.tensor([[True, True]])
    expected = 0.0
    for t in range(2):
        shifted = [z - (beta if v == TARGETS[t] else 0.0) for v, z in enumerate(ref_logits[t])]
        q = _softmax(shifted)
        logp = _log_softmax(LOGITS[t])
        expected += -sum(q[v] * logp[v] for v in range(4))
    assert _masked_sum(out, mask).item() == pytest.approx(expected, rel=1e-6)


def test_undial_beta0_ref_equal_is_entropy_and_target_detached():
    logits = _logits(requires_grad=True)
    ref = _logits(requires_grad=True)
    out = undial_per_token(logits, ref, _targets(), 0.0)
    for t in range(2):
        p = _softmax(LOGITS[t])
        entropy = -sum(pv * math.log(pv) for pv in p)
        assert out[0, t].item() == pytest.approx(entropy, rel=1e-6)
    out.sum().backward()
    assert ref.grad is None or (ref.grad == 0).all()
    assert logits.grad is not None


def test_ceu_value_and_zero_mass_on_true_token():
    logits = _logits(requires_grad=True)
    out = ceu_per_token(logits, _targets())
    for t in range(2):
        others = [z if v != TARGETS[t] else -math.inf for v, z in enumerate(LOGITS[t])]
        m = max(others)
        es = [math.exp(z - m) if z != -math.inf else 0.0 for z in others]
        q = [e / sum(es) for e in es]
        assert q[TARGETS[t]] == 0.0
        logp = _log_softmax(LOGITS[t])
        assert out[0, t].item() == pytest.approx(-sum(q[v] * logp[v] for v in range(4)), rel=1e-6)
    # Gradient of -sum q log softmax(z) w.r.t. z is softmax(z) - q, q detached: at the true token it
    # is p_y (q puts no mass there), which pushes p_y down under descent.
    out[0, 0].backward()
    p0 = _softmax(LOGITS[0])
    assert logits.grad[0, 0, TARGETS[0]].item() == pytest.approx(p0[TARGETS[0]], rel=1e-6)
    assert torch.isfinite(logits.grad).all()


def test_bst_lam0_is_logp_of_target():
    out = bst_per_token(_logits(), _targets(), 0.0, 2)
    for t in range(2):
        assert out[0, t].item() == pytest.approx(_log_softmax(LOGITS[t])[TARGETS[t]], rel=1e-6)


def test_bst_value_with_topk_and_detached_bootstrap():
    lam, k = 0.5, 2
    logits = _logits(requires_grad=True)
    out = bst_per_token(logits, _targets(), lam, k)
    mask = torch.tensor([[True, False]])
    row = LOGITS[0]
    top = sorted(range(4), key=lambda v: -row[v])[:k]  # ids 1 and 0
    soft = _softmax([row[v] for v in top])
    b = [0.0] * 4
    for v, s in zip(top, soft):
        b[v] = s
    target = [(1 - lam) * (1.0 if v == TARGETS[0] else 0.0) + lam * b[v] for v in range(4)]
    logp = _log_softmax(row)
    expected = sum(target[v] * logp[v] for v in range(4))
    assert _masked_sum(out, mask).item() == pytest.approx(expected, rel=1e-6)
    # With the target detached, d/dz of sum t log softmax(z) is t - softmax(z) (sum t = 1).
    _masked_sum(out, mask).backward()
    p = _softmax(row)
    for v in range(4):
        assert logits.grad[0, 0, v].item() == pytest.approx(target[v] - p[v], abs=1e-6)
    assert (logits.grad[0, 1] == 0).all()


def test_bst_top_k_larger_than_vocab_is_clamped():
    out = bst_per_token(_logits(), _targets(), 1.0, 100)
    p = _softmax(LOGITS[0])
    logp = _log_softmax(LOGITS[0])
    assert out[0, 0].item() == pytest.approx(sum(p[v] * logp[v] for v in range(4)), rel=1e-6)


# ---------------------------------------------------------------- FLAT

def test_mean_token_prob_excludes_padding():
    logps = torch.tensor([[math.log(0.5), math.log(0.2), math.log(0.9)], [math.log(0.3), 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = mean_token_prob(logps, mask)
    assert out.shape == (2,)
    assert out[0].item() == pytest.approx((0.5 + 0.2) / 2, rel=1e-6)
    assert out[1].item() == pytest.approx(0.3, rel=1e-6)


def _flat_expected(div: str, pe: float, pf: float) -> float:
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    return {
        "tv": -math.tanh(pe) / 2 + math.tanh(pf) / 2,
        "kl": -pe + math.exp(pf - 1),
        "pearson": -pe + pf + pf**2 / 4,
        "js": softplus(-pe) + softplus(pf) - 2 * math.log(2),
    }[div]


@pytest.mark.parametrize("div", ["tv", "kl", "js", "pearson"])
def test_flat_values(div):
    pe = torch.tensor([0.3, 0.8], dtype=torch.float64)
    pf = torch.tensor([0.6, 0.1], dtype=torch.float64)
    out = flat_per_sequence(pe, pf, div)
    assert out.shape == (2,)
    for i in range(2):
        assert out[i].item() == pytest.approx(_flat_expected(div, pe[i].item(), pf[i].item()), rel=1e-12)


@pytest.mark.parametrize("div", ["tv", "kl", "js", "pearson"])
def test_flat_direction(div):
    base = flat_per_sequence(torch.tensor([0.4]), torch.tensor([0.6]), div).item()
    lower_pf = flat_per_sequence(torch.tensor([0.4]), torch.tensor([0.3]), div).item()
    higher_pe = flat_per_sequence(torch.tensor([0.7]), torch.tensor([0.6]), div).item()
    assert lower_pf < base
    assert higher_pe < base


def test_flat_divergences_and_unknown():
    assert set(FLAT_DIVERGENCES) == {"tv", "kl", "js", "pearson"}
    with pytest.raises(ValueError) as err:
        flat_per_sequence(torch.tensor([0.5]), torch.tensor([0.5]), "hellinger")
    for name in FLAT_DIVERGENCES:
        assert name in str(err.value)


def test_ceu_leaves_out_each_answers_first_token():
    """CE-U as the authors' code: the first answer token of each sample is out of the sum and of the
    count. Two samples with 3 and 2 target tokens (a pad at the end of the second), per-token values
    1..3 and 4..5: the sum keeps 2 + 3 + 5 = 10 over 2 + 1 = 3 tokens; with ignore_first_n 0, 15 over 5."""
    from unlearn.engine.batches import global_unit_count
    from unlearn.methods.base import Outputs
    from unlearn.methods.terms.distill import CEU, CEUParams

    class Known(CEU):
        def per_token(self, out):
            return torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 4.0, 5.0, 9.0]])

    mask = torch.tensor([[False, True, True, True], [False, True, True, False]])
    out = Outputs(torch.zeros(2, 4), mask, torch.zeros(2, 4, dtype=torch.long), torch.arange(2))
    term = Known(CEUParams(), ("forget",))
    assert term.loss_sum({"forget": out}).item() == 10.0
    assert global_unit_count("token", [0, 1], [3, 2], term.skipped_tokens()) == 3
    plain = Known(CEUParams(ignore_first_n=0), ("forget",))
    assert plain.loss_sum({"forget": out}).item() == 15.0
    assert global_unit_count("token", [0, 1], [3, 2], plain.skipped_tokens()) == 5
