"""Preference-style forget losses.

NPO: "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning"
(Zhang et al., 2024), eq. (3): L = -(2/beta) E[ log sigmoid( -beta * log(pi_theta(y|x) / pi_ref(y|x)) ) ].

DPO: "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
(Rafailov et al., 2023), with a refusal as the preferred answer (IdkDPO; TOFU, open-unlearning).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def npo_per_sequence(logps_sum: torch.Tensor, ref_logps_sum: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO loss of each sequence. logps_sum, ref_logps_sum: [B] sequence log-likelihoods (sum
    reduction) under the model and the reference. Returns [B]; the caller takes the mean."""
    log_ratio = logps_sum - ref_logps_sum
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio)


def dpo_per_sequence(
    chosen_logps_sum: torch.Tensor,
    ref_chosen_logps_sum: torch.Tensor,
    rejected_logps_sum: torch.Tensor,
    ref_rejected_logps_sum: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO loss of each sequence pair, as used for unlearning (DPO / IdkDPO, SPEC 3.1).

    DPO: "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
    (Rafailov et al., 2023). For unlearning (TOFU's IdkDPO, Maini et al., 2024; open-unlearning) the
    preferred ("chosen") answer is the alternative y_alt (a refusal such as "I don't know") and the
    dispreferred ("rejected") answer is the forget answer y:

        L = -(2/beta) * log sigmoid( beta * ( [logp_theta - logp_ref](y_alt) - [logp_theta - logp_ref](y) ) )

    The factor 2/beta (not 1, as in the DPO paper) follows open-unlearning and matches NPO's scaling.

    All four inputs: [B] sequence log-likelihoods (sum reduction over target tokens):
    chosen_* for the alternative answer, rejected_* for the forget answer, ref_* under the reference
    model (the model before unlearning). Returns [B]; the caller takes the mean.
    """
    chosen_log_ratio = chosen_logps_sum - ref_chosen_logps_sum
    rejected_log_ratio = rejected_logps_sum - ref_rejected_logps_sum
    return -(2.0 / beta) * F.logsigmoid(beta * (chosen_log_ratio - rejected_log_ratio))


def simnpo_per_sequence(nll_mean: torch.Tensor, beta: float, delta: float) -> torch.Tensor:
    """SimNPO ("Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning",
    Fan et al., 2024), as SPEC 3.1 writes it: -(2/beta) log sigmoid(beta (NLL_sum/|y| - delta)).
    nll_mean: [B] length-normalised NLL of each forget answer (NLL_sum / |y|). No reference model.
    Returns [B]; minimising it raises the length-normalised NLL."""
    return -(2.0 / beta) * F.logsigmoid(beta * (nll_mean - delta))
