"""The passes an evaluation makes over a model: teacher-forced statistics, gradients, prefix generations.

One teacher-forced pass computes, batch by batch and for every target token of every sequence, every
per-token statistic a metric can ask for (SPEC 5): its log-probability, whether the model's argmax
agrees with it, and its Min-K%++ z-score. Reductions (sum, mean, lowest k%) are taken later by the
metrics, so adding a metric adds no pass. The math is done in float32 whatever the model's dtype.
The generation pass is `unlearn.models.generation.generate_texts`.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Sequence

import torch

from unlearn.core.batching import IGNORE_INDEX, collate

PASS_VERSION = 2
"""Bumped whenever what a pass returns changes: part of every cache key."""


def token_statistics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-position statistics of the targets `labels[:, 1:]` under `logits[:, :-1]`, in float32.

    - logp: log p(y_t | context)
    - argmax: 1 where the most likely token is y_t (exact memorisation, extraction strength)
    - mink_pp: (log p(y_t) - mu_t) / sigma_t with mu_t = E_{v~p_t}[log p_t(v)] and sigma_t^2 the variance
      of log p_t(v) under p_t ("Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
      Language Models", Zhang et al., 2024).
    - mask: 1 on target tokens.
    """
    logits = logits[:, :-1].float()
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    safe = targets.clamp_min(0)
    logprobs = torch.log_softmax(logits, dim=-1)
    logp = logprobs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    probs = logprobs.exp()
    # log p_v - mu = z_v - E_p[z] (the log-normaliser cancels): centring the logits keeps the small
    # deviations of a near-uniform distribution that E[x^2] - mu^2 (or log p - mu at |log p| ~ 10) loses
    centred = logits - (probs * logits).sum(-1, keepdim=True)
    var = (probs * centred.square()).sum(-1)
    sigma = var.clamp_min(1e-12).sqrt()
    z = centred.gather(-1, safe.unsqueeze(-1)).squeeze(-1) / sigma
    return {"logp": logp, "argmax": (logits.argmax(-1) == safe), "mink_pp": z, "mask": mask}


def _rows(stats: dict[str, torch.Tensor]) -> list[dict[str, list]]:
    out = []
    for i in range(stats["mask"].shape[0]):
        m = stats["mask"][i]
        out.append({
            "token_logps": [round(v, 6) for v in stats["logp"][i][m].tolist()],
            "argmax_match": [int(v) for v in stats["argmax"][i][m].tolist()],
            "mink_pp": [round(v, 5) for v in stats["mink_pp"][i][m].tolist()],
        })
    return out


LOGITS_BUDGET = 1 << 26
"""Logits per forward call of the teacher-forced pass (256 MiB in float32; the statistics hold a few
tensors of that size at once)."""


def _batches(order: list[int], lengths: list[int], batch_size: int, vocab: int,
             batch_tokens: int | None = None) -> list[list[int]]:
    """`order` (sorted by length) cut into batches of at most batch_size samples, `batch_tokens` tokens and
    LOGITS_BUDGET logits (rows times the longest sample's length, times the vocabulary for the logits); at
    least one sample each."""
    tokens = batch_tokens or float("inf")
    batches: list[list[int]] = []
    for i in order:
        rows = len(batches[-1]) + 1 if batches else 0
        if batches and rows <= batch_size and rows * lengths[i] <= tokens and rows * lengths[i] * vocab <= LOGITS_BUDGET:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@torch.no_grad()
def teacher_forced_pass(model: torch.nn.Module, samples: Sequence[dict[str, list[int]]], pad_id: int,
                        batch_size: int = 32, on_batch: Callable[[list[int], list[dict]], None] | None = None,
                        share_prompts: bool = True, batch_tokens: int | None = None,
                        done: Collection[int] = ()) -> list[dict[str, list]]:
    """Per-token statistics of each encoded sample (each sample scored once).

    The batches are planned over every sample, and a batch whose samples are all in `done` (already known:
    cached) is skipped, so an evaluation resumed after a kill scores each remaining sample in the batch it
    would have had, and its values equal a straight run's bit for bit. Skipped samples get empty rows.

    Samples that share their prompt with others (a question's answer, paraphrase and perturbed answers) are
    scored with one pass over up to `batch_size` prompts and passes over their answers, sorted by length
    (unlearn.eval.shared_prompts), unless `share_prompts` is False; the rest are batched by length. A batch
    holds at most `batch_size` samples, `batch_tokens` tokens and LOGITS_BUDGET logits (a large vocabulary
    gets smaller batches); `on_batch(indices, rows)` is called after each batch with the input indices it
    covered (the evaluator caches and reports progress there)."""
    from unlearn.eval.shared_prompts import (
        answer_batches,
        prompt_batches,
        run_prompts,
        score_answers,
        shared_prompt_groups,
    )

    device = next(model.parameters()).device
    results: list[dict[str, list]] = [{}] * len(samples)
    vocab = getattr(model.get_output_embeddings(), "out_features", None) or model.config.vocab_size
    groups, alone = shared_prompt_groups(samples) if share_prompts else ([], list(range(len(samples))))

    def keep(chunk: list[int], rows: list[dict]) -> None:
        for i, row in zip(chunk, rows):
            results[i] = row
        if on_batch:
            on_batch(chunk, rows)

    def needed(chunk: list[int]) -> bool:
        return not all(i in done for i in chunk)

    for batch_groups in prompt_batches(groups, samples, batch_size):
        answers = [i for g in batch_groups for i in g]
        if not needed(answers):
            continue
        prompts = run_prompts(model, samples, batch_groups, pad_id)
        if prompts is None:  # the model returns no copyable cache: every grouped sample goes through plain passes
            alone += [i for g in groups for i in g]
            break
        for chunk in answer_batches(answers, samples, batch_size, vocab, LOGITS_BUDGET, batch_tokens):
            if needed(chunk):
                logits, labels = score_answers(model, samples, prompts, chunk, pad_id)
                keep(chunk, _rows(token_statistics(logits, labels)))
    order = sorted(alone, key=lambda i: len(samples[i]["input_ids"]))
    for chunk in _batches(order, [len(s["input_ids"]) for s in samples], batch_size, vocab, batch_tokens):
        if not needed(chunk):
            continue
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in chunk], pad_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        keep(chunk, _rows(token_statistics(logits, batch["labels"])))
    return results


def gradient_norm_pass(model: torch.nn.Module, samples: Sequence[dict[str, list[int]]], pad_id: int,
                       on_sample: Callable[[int, float], None] | None = None) -> list[float]:
    """L2 norm of the gradient of each sample's token-mean NLL over all floating-point parameters
    (the gradient-norm membership attack; one forward and backward per sample). Parameters keep
    their requires_grad flags and no gradient is left in `.grad`."""
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.is_floating_point()]
    flags = [p.requires_grad for p in params]
    norms: list[float] = []
    try:
        for p in params:
            p.requires_grad_(True)
        for i, sample in enumerate(samples):
            batch = {k: v.to(device) for k, v in collate([sample], pad_id).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            stats_logp = torch.log_softmax(logits[:, :-1].float(), -1)
            targets = batch["labels"][:, 1:]
            mask = targets != IGNORE_INDEX
            logp = stats_logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            loss = -(logp * mask).sum() / mask.sum().clamp_min(1)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            norm = torch.sqrt(sum((g.float().square().sum() for g in grads if g is not None), torch.tensor(0.0)))
            norms.append(float(norm))
            if on_sample:
                on_sample(i, norms[-1])
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    return norms


@torch.no_grad()
def reproduces_suffix(model: Any, prompt: list[int], target: list[int], k: int, pad_id: int) -> bool:
    """Whether greedy decoding from prompt + target[:k] produces exactly target[k:] (the generation
    form of extraction strength). Decoding stops early at an eos id, which then fails the match
    unless the eos is the target's own last token."""
    if k >= len(target):
        return True
    device = next(model.parameters()).device
    ids = torch.tensor([prompt + target[:k]], device=device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=len(target) - k, pad_token_id=pad_id,
                         temperature=None, top_p=None, top_k=None)
    return out[0, ids.shape[1]:].tolist() == list(target[k:])
