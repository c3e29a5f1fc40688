"""Losses: pure functions of log-probabilities, logits, hidden states and masks, and gradient
transforms as pure functions of lists of gradient tensors. None of them calls a model. Import each from
its module:

logprobs (per-token log-probs and the three reductions), ascent (NLL, GA), preference (NPO, DPO,
SimNPO), divergence (KL), representation (RMU), token_weighted (WGA, SatImp, TNPO, TS), distill
(UNDIAL, CE-U, BS-T), fdiv (FLAT), gradients (GRU, SURE, DGS).

Shapes: B = batch, T = positions (already shifted so position t scores token t+1), V = vocabulary.
Per-sequence losses return shape [B]; per-token losses return [B, T]; the caller reduces (terms sum over
target tokens or sequences, and the engine divides by the global batch's count).
"""
