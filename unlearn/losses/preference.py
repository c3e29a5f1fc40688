"""Preference-style forget losses.

NPO: "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning"
(Zhang et al., 2024), eq. (3): L = -(2/beta) E[ log sigmoid( -beta * log(pi_theta(y|x) / pi_ref(y|x)) ) ].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def npo_per_sequence(logps_sum: torch.Tensor, ref_logps_sum: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO loss of each sequence. logps_sum, ref_logps_sum: [B] sequence log-likelihoods (sum
    reduction) under the model and the reference. Returns [B]; the caller takes the mean."""
    log_ratio = logps_sum - ref_logps_sum
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio)
