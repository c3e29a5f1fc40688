"""Losses: pure functions of log-probabilities, logits and masks. None of them calls a model.

Shapes: B = batch, T = positions (already shifted so position t scores token t+1), V = vocabulary.
Per-sequence losses return shape [B]; per-token losses return [B, T]; the caller reduces.
"""

from unlearn.losses.logprobs import (
    batch_token_mean,
    sequence_logps_mean,
    sequence_logps_sum,
    token_logps_from_logits,
)
from unlearn.losses.ascent import nll_token_mean, ga_token_mean
from unlearn.losses.preference import npo_per_sequence
from unlearn.losses.divergence import kl_ref_theta_per_token

__all__ = [
    "batch_token_mean",
    "sequence_logps_mean",
    "sequence_logps_sum",
    "token_logps_from_logits",
    "nll_token_mean",
    "ga_token_mean",
    "npo_per_sequence",
    "kl_ref_theta_per_token",
]
