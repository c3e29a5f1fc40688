"""The two passes every metric shares: one teacher-forced pass and one generation pass per dataset.

The teacher-forced pass scores every (prompt, answer) sequence a dataset's metrics need (the answer,
the paraphrased answer, each perturbed answer) in one batched sweep; the generation pass decodes each
question greedily once. Metrics are computed from these numbers and strings, never from the model.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from unlearn.data.tokenize import collate, collate_left
from unlearn.losses import sequence_logps_sum, token_logps_from_logits


@torch.no_grad()
def score_sequences(model: torch.nn.Module, samples: Sequence[dict[str, list[int]]], pad_id: int,
                    batch_size: int = 32) -> list[tuple[float, int]]:
    """(NLL_sum, number of target tokens) of each encoded sample, in input order.
    Samples are batched by length to waste little compute on padding."""
    device = next(model.parameters()).device
    order = sorted(range(len(samples)), key=lambda i: len(samples[i]["input_ids"]))
    results: list[tuple[float, int]] = [(0.0, 0)] * len(samples)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in chunk], pad_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        token_logps, mask = token_logps_from_logits(logits, batch["labels"])
        nll = (-sequence_logps_sum(token_logps, mask)).tolist()
        counts = mask.sum(-1).tolist()
        for i, v, n in zip(chunk, nll, counts):
            results[i] = (float(v), int(n))
    return results


@torch.no_grad()
def generate_greedy(model: Any, tokenizer: Any, prompts: Sequence[list[int]], batch_size: int = 32,
                    max_new_tokens: int = 200) -> list[str]:
    """Greedy continuation of each prompt (left-padded batches), decoded without special tokens."""
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    texts = [""] * len(prompts)
    eos = tokenizer.eos_token_id
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate_left([prompts[i] for i in chunk], tokenizer.pad_token_id).items()}
        out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=eos,
                             temperature=None, top_p=None, top_k=None)
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        for i, row in zip(chunk, new_tokens.tolist()):
            if eos in row:
                row = row[: row.index(eos)]
            texts[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return texts
