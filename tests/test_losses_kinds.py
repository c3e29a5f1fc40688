"""DPO, RMU and gradient transforms (GRU, EMA, SURE saliency) on tiny hand-made tensors.

Every expected number is worked out by hand in a comment, or computed inline with `math` from the
chosen inputs; none is computed by calling the function under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.losses.gradients import ema_update_, gru_rectify, inner_product_float64, saliency_row_mask
from unlearn.losses.preference import dpo_per_sequence
from unlearn.losses.representation import rmu_control_vector, rmu_mse_per_token


def _log_sigmoid(x: float) -> float:
    return math.log(1.0 / (1.0 + math.exp(-x)))


def _t(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# DPO / IdkDPO


def test_dpo_at_chosen_points():
    # Row 0: chosen (refusal) log-ratio -2 - (-3) = 1, rejected (forget answer) -5 - (-4) = -1,
    #        margin 2, beta 0.1 -> -(2/0.1) * log sigmoid(0.2).
    # Row 1: both log-ratios 0 -> margin 0 -> -(20) * log(1/2) = 20 ln 2.
    loss = dpo_per_sequence(
        chosen_logps_sum=_t([-2.0, -4.0]),
        ref_chosen_logps_sum=_t([-3.0, -4.0]),
        rejected_logps_sum=_t([-5.0, -6.0]),
        ref_rejected_logps_sum=_t([-4.0, -6.0]),
        beta=0.1,
    )
    assert loss.shape == (2,)
    assert loss[0].item() == pytest.approx(-20.0 * _log_sigmoid(0.2), rel=1e-12)
    assert loss[1].item() == pytest.approx(20.0 * math.log(2.0), rel=1e-12)


@pytest.mark.parametrize("ref", [-1.0, -7.5, 0.0])
def test_dpo_reference_cancels_when_equal_on_both_answers(ref):
    # ref_chosen = ref_rejected: the margin is chosen - rejected = -3 - (-1) = -2; beta 0.5
    # -> -(2/0.5) * log sigmoid(-1) = 4 * log(1 + e), whatever the reference value.
    loss = dpo_per_sequence(_t([-3.0]), _t([ref]), _t([-1.0]), _t([ref]), beta=0.5)
    assert loss.item() == pytest.approx(4.0 * math.log(1.0 + math.e), rel=1e-12)
    assert loss.item() == pytest.approx(-4.0 * _log_sigmoid(-1.0), rel=1e-12)


def test_dpo_gradient_sign_raising_refusal_lowers_loss():
    chosen = _t([-2.0]).requires_grad_(True)
    rejected = _t([-5.0]).requires_grad_(True)
    loss = dpo_per_sequence(chosen, _t([-3.0]), rejected, _t([-4.0]), beta=0.1)
    loss.sum().backward()
    # d/dz of -(2/b) log sigmoid(b z) = -2 sigmoid(-b z); z = 2, b = 0.1 -> -2 / (1 + e^0.2).
    assert chosen.grad.item() < 0
    assert chosen.grad.item() == pytest.approx(-2.0 / (1.0 + math.exp(0.2)), rel=1e-12)
    # The forget answer's log-likelihood enters with the opposite sign.
    assert rejected.grad.item() == pytest.approx(2.0 / (1.0 + math.exp(0.2)), rel=1e-12)
    # And directly: a higher refusal log-likelihood gives a lower loss.
    higher = dpo_per_sequence(_t([-1.5]), _t([-3.0]), _t([-5.0]), _t([-4.0]), beta=0.1)
    assert higher.item() < loss.item()


def test_dpo_is_finite_at_extreme_margins():
    # margin -1000, beta 1: -2 log sigmoid(-1000) = 2 * (1000 + log(1 + e^-1000)) ~ 2000.
    loss = dpo_per_sequence(_t([-1000.0]), _t([0.0]), _t([0.0]), _t([0.0]), beta=1.0)
    assert torch.isfinite(loss).all()
    assert loss.item() == pytest.approx(2000.0, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# RMU


def test_rmu_mse_per_token_with_control_vector_and_mask():
    # hidden [1, 2, 2]; target = [1, 0] (a control vector, broadcast over B and L).
    #   position 0: ((1-1)^2 + (2-0)^2) / 2 = 2
    #   position 1: ((3-1)^2 + (5-0)^2) / 2 = 29 / 2 = 14.5, masked out -> 0
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]])
    mask = torch.tensor([[True, False]])
    out = rmu_mse_per_token(hidden, torch.tensor([1.0, 0.0]), mask)
    assert out.shape == (1, 2)
    assert out.tolist() == [[2.0, 0.0]]
    out_all = rmu_mse_per_token(hidden, torch.tensor([1.0, 0.0]), torch.tensor([[True, True]]))
    assert out_all.tolist() == [[2.0, 14.5]]


def test_rmu_mse_per_token_with_frozen_hidden_states():
    # target [1, 2, 2] (frozen model's states): position 0: ((1-0)^2 + (2-4)^2) / 2 = 5 / 2;
    # position 1: ((3-3)^2 + (5-4)^2) / 2 = 1 / 2.
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]])
    frozen = torch.tensor([[[0.0, 4.0], [3.0, 4.0]]])
    out = rmu_mse_per_token(hidden, frozen, torch.tensor([[True, True]]))
    assert out.tolist() == [[2.5, 0.5]]
    # Low-precision hidden states are compared in float32 at least.
    assert rmu_mse_per_token(hidden.bfloat16(), frozen, torch.tensor([[True, True]])).dtype == torch.float32


def test_rmu_mse_gradient_only_from_unmasked_positions():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]], requires_grad=True)
    rmu_mse_per_token(hidden, torch.tensor([1.0, 0.0]), torch.tensor([[True, False]])).sum().backward()
    # d/dh of mean_k (h_k - t_k)^2 = 2 (h - t) / H = (h - t) for H = 2; position 1 is masked.
    assert hidden.grad.tolist() == [[[0.0, 2.0], [0.0, 0.0]]]


def test_rmu_control_vector_norm_reproducibility_and_sign():
    coefficient = 6.5
    v1 = rmu_control_vector(16, coefficient, torch.Generator().manual_seed(123))
    v2 = rmu_control_vector(16, coefficient, torch.Generator().manual_seed(123))
    v3 = rmu_control_vector(16, coefficient, torch.Generator().manual_seed(124))
    assert v1.shape == (16,)
    assert math.sqrt(sum(x * x for x in v1.tolist())) == pytest.approx(coefficient, rel=1e-6)
    assert torch.equal(v1, v2)
    assert not torch.equal(v1, v3)
    assert ((v1 / coefficient) >= 0).all()  # u in [0, 1)^H: non-negative before scaling
    # Independent formula: the same draw, normalised with math.
    u = torch.rand(16, generator=torch.Generator().manual_seed(123)).tolist()
    norm = math.sqrt(sum(x * x for x in u))
    assert v1.tolist() == pytest.approx([coefficient * x / norm for x in u], rel=1e-6)


# --------------------------------------------------------------------------------------------------
# EMA and the float64 inner product


def test_ema_update_in_place_by_hand():
    average = [_t([1.0, 2.0]), _t([[4.0]])]
    grads = [_t([3.0, -1.0]), _t([[-6.0]])]
    grads_before = [g.clone() for g in grads]
    pointers = [a.data_ptr() for a in average]
    returned = ema_update_(average, grads, 0.8)
    # 0.8 * 3 + 0.2 * 1 = 2.6; 0.8 * (-1) + 0.2 * 2 = -0.4; 0.8 * (-6) + 0.2 * 4 = -4.0
    assert returned is average
    assert [a.data_ptr() for a in average] == pointers
    assert average[0].tolist() == pytest.approx([2.6, -0.4], abs=1e-15)
    assert average[1].shape == (1, 1) and average[1].item() == pytest.approx(-4.0, abs=1e-15)
    assert all(torch.equal(g, b) for g, b in zip(grads, grads_before))
    # A second step with zero gradient keeps 0.2 of the average: [0.52, -0.08], [[-0.8]].
    ema_update_(average, [torch.zeros(2, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)], 0.8)
    assert average[0].tolist() == pytest.approx([0.52, -0.08], abs=1e-15)
    assert average[1].item() == pytest.approx(-0.8, abs=1e-15)


def test_inner_product_float64_by_hand_and_precision():
    # 1*4 + 2*5 + 3*2 = 20
    assert inner_product_float64([_t([1.0, 2.0]), _t([[3.0]])], [_t([4.0, 5.0]), _t([[2.0]])]) == 20.0
    # float32 inputs, accumulated in float64: 1e8 + 1 - 1e8 = 1 (1e8 + 1 is not a float32).
    a = [torch.tensor([1e8, 1.0, -1e8], dtype=torch.float32)]
    b = [torch.ones(3, dtype=torch.float32)]
    result = inner_product_float64(a, b)
    assert isinstance(result, float)
    assert result == 1.0


# --------------------------------------------------------------------------------------------------
# GRU


def _gru_example():
    # m = ([1, 1], [2]): ||m||^2 = 1 + 1 + 4 = 6.
    # g_u = ([1, -2], [-2]): d = 1 - 2 - 4 = -5 < 0.
    # rectified = g_u - (-5/6) m = ([1 + 5/6, -2 + 5/6], [-2 + 10/6]) = ([11/6, -7/6], [-1/3]);
    # check: 11/6 - 7/6 + 2 * (-1/3) = 4/6 - 4/6 = 0.
    g_u = [_t([1.0, -2.0]), _t([-2.0])]
    m = [_t([1.0, 1.0]), _t([2.0])]
    return g_u, m


def test_gru_rectifies_conflicting_gradient_by_hand():
    g_u, m = _gru_example()
    g_before = [g.clone() for g in g_u]
    m_before = [x.clone() for x in m]
    rectified, d = gru_rectify(g_u, m)
    assert d == pytest.approx(-5.0, abs=1e-15)
    assert rectified[0].tolist() == pytest.approx([11.0 / 6.0, -7.0 / 6.0], abs=1e-15)
    assert rectified[1].tolist() == pytest.approx([-1.0 / 3.0], abs=1e-15)
    assert rectified[0].dtype == torch.float64 and rectified[1].shape == (1,)
    # Exactly orthogonal to m, in float64.
    assert abs(inner_product_float64(rectified, m)) < 1e-12
    # Inputs untouched.
    assert all(torch.equal(a, b) for a, b in zip(g_u, g_before))
    assert all(torch.equal(a, b) for a, b in zip(m, m_before))


def test_gru_keeps_dtype_of_lower_precision_gradients():
    g_u, m = _gru_example()
    rectified, d = gru_rectify([g.float() for g in g_u], [x.float() for x in m])
    assert d == -5.0
    assert all(r.dtype == torch.float32 for r in rectified)
    assert rectified[0].tolist() == pytest.approx([11.0 / 6.0, -7.0 / 6.0], rel=1e-6)
    assert abs(inner_product_float64(rectified, [x.float() for x in m])) < 1e-6


def test_gru_leaves_non_conflicting_gradient_unchanged():
    # g_u = ([1, 1], [1]), m = ([1, 1], [2]): d = 1 + 1 + 2 = 4 > 0.
    g_u = [_t([1.0, 1.0]), _t([1.0])]
    _, m = _gru_example()
    rectified, d = gru_rectify(g_u, m)
    assert d == 4.0
    assert all(torch.equal(r, g) for r, g in zip(rectified, g_u))
    # d = 0 exactly (orthogonal already): unchanged too. ([2, 0], [-1]) . m = 2 + 0 - 2 = 0.
    g_orth = [_t([2.0, 0.0]), _t([-1.0])]
    rectified, d = gru_rectify(g_orth, m)
    assert d == 0.0
    assert all(torch.equal(r, g) for r, g in zip(rectified, g_orth))


def test_gru_with_zero_average_returns_gradient_unchanged():
    g_u, _ = _gru_example()
    zero = [torch.zeros(2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]
    rectified, d = gru_rectify(g_u, zero)
    assert d == 0.0
    assert all(torch.equal(r, g) for r, g in zip(rectified, g_u))
    assert all(torch.isfinite(r).all() for r in rectified)


def test_gru_rejects_mismatched_lists():
    g_u, m = _gru_example()
    with pytest.raises(ValueError):
        gru_rectify(g_u, m[:1])
    with pytest.raises(ValueError):
        gru_rectify(g_u, [_t([1.0, 1.0, 1.0]), _t([2.0])])


def test_gru_randomised_property_non_negative_inner_product():
    generator = torch.Generator().manual_seed(0)
    rectified_count = unchanged_count = 0
    for _ in range(100):
        n_tensors = int(torch.randint(1, 4, (1,), generator=generator))
        shapes = []
        for _ in range(n_tensors):
            ndim = int(torch.randint(1, 3, (1,), generator=generator))
            shapes.append(tuple(int(s) for s in torch.randint(1, 5, (ndim,), generator=generator)))
        g_u = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
        m = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
        g_flat = [x for g in g_u for x in g.reshape(-1).tolist()]
        m_flat = [x for t in m for x in t.reshape(-1).tolist()]
        d_expected = math.fsum(a * b for a, b in zip(g_flat, m_flat))
        m_sq = math.fsum(b * b for b in m_flat)
        scale = math.sqrt(math.fsum(a * a for a in g_flat) * m_sq)

        rectified, d = gru_rectify(g_u, m)
        assert d == pytest.approx(d_expected, abs=1e-12 * scale)
        r_flat = [x for r in rectified for x in r.reshape(-1).tolist()]
        inner = math.fsum(a * b for a, b in zip(r_flat, m_flat))
        assert inner >= -1e-12 * scale
        if d_expected < 0:
            rectified_count += 1
            assert abs(inner) <= 1e-12 * scale
            expected = [a - (d_expected / m_sq) * b for a, b in zip(g_flat, m_flat)]
            assert r_flat == pytest.approx(expected, abs=1e-12 * (1 + scale))
        else:
            unchanged_count += 1
            assert r_flat == g_flat
    assert rectified_count >= 20 and unchanged_count >= 20  # both branches exercised


# --------------------------------------------------------------------------------------------------
# SURE saliency masks


def _saliency_example():
    # W1 rows [3, 4], [0, 1], [0, 0] -> norms 5, 1, 0; W2 rows [6, 8], [1, 0] -> norms 10, 1;
    # a bias (1-D) takes no part. Pooled norms sorted: [0, 1, 1, 5, 10] (n = 5, index step 1/4).
    w1 = _t([[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float32)
    w2 = _t([[6.0, 8.0], [1.0, 0.0]], dtype=torch.float32)
    bias = _t([1.0, 2.0, 3.0], dtype=torch.float32)
    return [w1, w2, bias]


@pytest.mark.parametrize(
    ("percentile", "keep_w1", "keep_w2"),
    [
        # 99: position 4 * 0.99 = 3.96 -> 5 + 0.96 * (10 - 5) = 9.8 -> only W2 row 0
        (99.0, [False, False, False], [True, False]),
        # 60: position 2.4 -> 1 + 0.4 * (5 - 1) = 2.6 -> rows with norm 5 and 10
        (60.0, [True, False, False], [True, False]),
        # 50: position 2 -> threshold 1; "at or above" keeps the two rows of norm exactly 1
        (50.0, [True, True, False], [True, True]),
        # 100: threshold = max = 10 -> the largest row is kept
        (100.0, [False, False, False], [True, False]),
        # 0: threshold = min = 0 -> every row
        (0.0, [True, True, True], [True, True]),
    ],
)
def test_saliency_row_mask_by_hand(percentile, keep_w1, keep_w2):
    grads = _saliency_example()
    before = [g.clone() for g in grads]
    masks = saliency_row_mask(grads, percentile)
    assert len(masks) == 3
    assert masks[0].dtype == torch.bool
    assert masks[0].shape == (3, 1) and masks[1].shape == (2, 1)
    assert masks[0].squeeze(1).tolist() == keep_w1
    assert masks[1].squeeze(1).tolist() == keep_w2
    # Non-2-D tensors: all-False mask of their own shape (their gradient is zeroed).
    assert masks[2].shape == (3,) and not masks[2].any()
    assert all(torch.equal(g, b) for g, b in zip(grads, before))


def test_saliency_mask_applied_zeroes_rows():
    grads = _saliency_example()
    masks = saliency_row_mask(grads, 60.0)
    assert (grads[0] * masks[0]).tolist() == [[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]
    assert (grads[1] * masks[1]).tolist() == [[6.0, 8.0], [0.0, 0.0]]
    assert (grads[2] * masks[2]).tolist() == [0.0, 0.0, 0.0]


def test_saliency_mask_edge_cases():
    with pytest.raises(ValueError):
        saliency_row_mask(_saliency_example(), 101.0)
    with pytest.raises(ValueError):
        saliency_row_mask(_saliency_example(), -1.0)
    masks = saliency_row_mask([_t([1.0, 2.0]), torch.tensor(3.0)], 99.0)
    assert [m.shape for m in masks] == [(2,), ()]
    assert not any(m.any() for m in masks)
