"""Losses: pure functions of log-probabilities, logits, hidden states and masks, and gradient
transforms as pure functions of lists of gradient tensors (`gradients`). None of them calls a model.

Shapes: B = batch, T = positions (already shifted so position t scores token t+1), V = vocabulary.
Per-sequence losses return shape [B]; per-token losses return [B, T]; the caller reduces (terms sum over
target tokens or sequences, and the engine divides by the global batch's count).
"""

from unlearn.losses.logprobs import (
    sequence_logps_mean,
    sequence_logps_sum,
    target_sum,
    token_logps_from_logits,
)
from unlearn.losses.ascent import ga_sum, nll_sum
from unlearn.losses.preference import dpo_per_sequence, npo_per_sequence, simnpo_per_sequence
from unlearn.losses.divergence import kl_ref_theta_per_token
from unlearn.losses.representation import rmu_control_vector, rmu_mse_per_token
from unlearn.losses.token_weighted import satimp_per_token, tnpo_per_token, ts_per_token, wga_per_token
from unlearn.losses.distill import bst_per_token, ceu_per_token, undial_per_token
from unlearn.losses.fdiv import FLAT_DIVERGENCES, flat_per_sequence, mean_token_prob
from unlearn.losses.gradients import ema_update_, gru_rectify, inner_product_float64, saliency_row_mask

__all__ = [
    "sequence_logps_mean",
    "sequence_logps_sum",
    "target_sum",
    "token_logps_from_logits",
    "nll_sum",
    "ga_sum",
    "npo_per_sequence",
    "kl_ref_theta_per_token",
    "dpo_per_sequence",
    "rmu_mse_per_token",
    "rmu_control_vector",
    "ema_update_",
    "inner_product_float64",
    "gru_rectify",
    "saliency_row_mask",
    "wga_per_token",
    "satimp_per_token",
    "tnpo_per_token",
    "ts_per_token",
    "undial_per_token",
    "ceu_per_token",
    "bst_per_token",
    "FLAT_DIVERGENCES",
    "mean_token_prob",
    "flat_per_sequence",
    "simnpo_per_sequence",
]
