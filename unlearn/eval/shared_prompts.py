"""Scoring several answers to one prompt with one pass over the prompt.

TOFU's truth ratio scores each question's answer, its paraphrase and five perturbed answers: seven
sequences that begin with the same prompt (chat template and question). Here each distinct prompt runs
once, its key/value cache is copied to the rows of its answers, and only the answers run again. The
logits that predict each answer token are those of a full pass (the same positions attend to the same
keys), so the statistics equal the plain pass's to float rounding.

Layout of one batch of G prompts and R answers (R >= G):
- prompts left-padded to the longest, P columns, with explicit position ids (0 at each prompt's first
  real token), so every prompt ends at column P - 1 and its last logits predict the first answer token;
- answers right-padded to the longest, A columns, positions continuing from each prompt's length; the
  attention mask is the prompt's (copied to its answers) followed by the answer's.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from unlearn.core.batching import IGNORE_INDEX


def cache_keyword(model: Any) -> str:
    """The name transformers gives the key/value cache, as argument and output: `cache` since 5.x (where
    `past_key_values` is deprecated), `past_key_values` before."""
    import inspect

    inner = model
    while hasattr(inner, "module") or hasattr(inner, "get_base_model"):  # DDP, then peft wrappers
        inner = inner.module if hasattr(inner, "module") else inner.get_base_model()
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def prompt_length(sample: dict[str, list[int]]) -> int:
    """Tokens before the first scored one (the prompt); 0 when the first token is already scored."""
    return next((i for i, label in enumerate(sample["labels"]) if label != IGNORE_INDEX), len(sample["labels"]))


def shared_prompt_groups(samples: Sequence[dict[str, list[int]]]) -> tuple[list[list[int]], list[int]]:
    """(groups of sample indices that share a non-empty prompt, two or more each; every other index)."""
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    alone = []
    for i, s in enumerate(samples):
        p = prompt_length(s)
        if 0 < p < len(s["input_ids"]):
            by_prompt.setdefault(tuple(s["input_ids"][:p]), []).append(i)
        else:
            alone.append(i)
    groups = [g for g in by_prompt.values() if len(g) > 1]
    alone += [g[0] for g in by_prompt.values() if len(g) == 1]
    return groups, sorted(alone)


def group_batches(groups: list[list[int]], samples: Sequence[dict[str, list[int]]], batch_size: int, vocab: int,
                  budget: int, batch_tokens: int | None = None) -> list[list[list[int]]]:
    """Whole groups per batch, in order of prompt then answer length: at most `batch_size` answers (one group at
    least), `batch_tokens` answer tokens (answers x longest answer) and `budget` logits (answers x (longest
    answer + 1) x vocabulary)."""
    tokens = batch_tokens or float("inf")
    def answer_length(i: int) -> int:
        return len(samples[i]["input_ids"]) - prompt_length(samples[i])

    order = sorted(groups, key=lambda g: (prompt_length(samples[g[0]]), max(answer_length(i) for i in g)))
    batches: list[list[list[int]]] = []
    for g in order:
        if batches:
            rows = sum(len(x) for x in batches[-1]) + len(g)
            longest = max(answer_length(i) for x in [*batches[-1], g] for i in x) + 1
            if rows <= batch_size and rows * (longest - 1) <= tokens and rows * longest * vocab <= budget:
                batches[-1].append(g)
                continue
        batches.append([g])
    return batches


@torch.no_grad()
def shared_prompt_logits(model: Any, samples: Sequence[dict[str, list[int]]], groups: list[list[int]],
                         pad_id: int) -> tuple[torch.Tensor, torch.Tensor, list[int]] | None:
    """(logits [R, A + 1, V], labels [R, A + 1], sample index of each row) for one batch of groups: row r's
    logits[t] predict labels[t + 1], as a plain pass's logits[:, :-1] and labels[:, 1:] do (column 0 of the
    labels is IGNORE_INDEX; the first logits are the prompt's last). None when the model returns no key/value
    cache that can be copied row by row (its samples are then scored with plain passes)."""
    device = next(model.parameters()).device
    prompts = [samples[g[0]]["input_ids"][:prompt_length(samples[g[0]])] for g in groups]
    width = max(len(p) for p in prompts)
    prompt_ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((len(groups), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        prompt_ids[row, width - len(p):] = torch.tensor(p)
        prompt_mask[row, width - len(p):] = 1
    positions = (prompt_mask.cumsum(-1) - 1).clamp_min(0)
    out = model(input_ids=prompt_ids.to(device), attention_mask=prompt_mask.to(device),
                position_ids=positions.to(device), use_cache=True)
    owner = [g_row for g_row, g in enumerate(groups) for _ in g]
    indices = [i for g in groups for i in g]
    keyword = cache_keyword(model)
    cache = getattr(out, keyword, None)
    if not hasattr(cache, "reorder_cache"):
        return None
    cache.reorder_cache(torch.tensor(owner, device=device))  # each prompt's keys/values for each of its answers
    answers = [samples[i]["input_ids"][prompt_length(samples[i]):] for i in indices]
    answer_labels = [samples[i]["labels"][prompt_length(samples[i]):] for i in indices]
    a_width = max(len(a) for a in answers)
    ids = torch.full((len(indices), a_width), pad_id, dtype=torch.long)
    labels = torch.full((len(indices), a_width + 1), IGNORE_INDEX, dtype=torch.long)
    answer_mask = torch.zeros((len(indices), a_width), dtype=torch.long)
    for row, (a, lab) in enumerate(zip(answers, answer_labels)):
        ids[row, :len(a)] = torch.tensor(a)
        labels[row, 1:len(lab) + 1] = torch.tensor(lab)
        answer_mask[row, :len(a)] = 1
    lengths = torch.tensor([len(prompts[g]) for g in owner])
    answer_positions = lengths.unsqueeze(1) + torch.arange(a_width).unsqueeze(0)
    mask = torch.cat([prompt_mask[owner], answer_mask], dim=1)
    answer_logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                          position_ids=answer_positions.to(device), use_cache=True, **{keyword: cache}).logits
    first = out.logits[owner, -1:, :]  # each prompt's last logits predict its answers' first tokens
    return torch.cat([first, answer_logits], dim=1), labels.to(device), indices
