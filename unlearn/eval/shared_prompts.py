"""Scoring several answers to one prompt with one pass over the prompt.

TOFU's truth ratio scores each question's answer, its paraphrase and five perturbed answers: seven
sequences that begin with the same prompt (chat template and question). Here each distinct prompt runs
once, its key/value cache is copied to the rows of its answers, and only the answers run again. The
logits that predict each answer token are those of a full pass (the same positions attend to the same
keys), so the statistics equal the plain pass's to float rounding.

One prompt pass takes up to `batch_size` groups, in order of their longest answer; their answers are then
sorted by length and scored in batches of their own, so that an answer batch holds answers of similar
lengths (on TOFU a question's seven answers hold ten times its prompt's tokens, so their padding costs
more than the prompt they share). Layout of one answer batch of R answers over G prompts:
- prompts left-padded to the longest, P columns, with explicit position ids (0 at each prompt's first
  real token), so every prompt ends at column P - 1 and its last logits predict the first answer token;
- answers right-padded to the longest, A columns, positions continuing from each prompt's length; the
  attention mask is the prompt's (copied to its answers) followed by the answer's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from unlearn.core.batching import IGNORE_INDEX


def _forward_parameters(model: Any) -> set[str]:
    """The keyword arguments of the innermost model's forward (under DDP and peft wrappers), read from its class:
    a forward replaced on the instance (hooks, wrappers that count calls) passes them on but hides them."""
    import inspect

    inner = model
    while hasattr(inner, "module") or hasattr(inner, "get_base_model"):  # DDP, then peft wrappers
        inner = inner.module if hasattr(inner, "module") else inner.get_base_model()
    return set(inspect.signature(type(inner).forward).parameters)


def cache_keyword(model: Any) -> str:
    """The name transformers gives the key/value cache, as argument and output: `cache` since 5.x (where
    `past_key_values` is deprecated), `past_key_values` before."""
    return "cache" if "cache" in _forward_parameters(model) else "past_key_values"


def last_logits_only(model: Any) -> dict[str, int]:
    """The keyword that makes the model compute the logits of the last position only (transformers'
    `logits_to_keep`, `num_logits_to_keep` before 4.50), or none where its forward has neither."""
    names = _forward_parameters(model)
    return next(({name: 1} for name in ("logits_to_keep", "num_logits_to_keep") if name in names), {})


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


def answer_length(sample: dict[str, list[int]]) -> int:
    """Tokens from the first scored one to the end (the answer)."""
    return len(sample["input_ids"]) - prompt_length(sample)


def prompt_batches(groups: list[list[int]], samples: Sequence[dict[str, list[int]]],
                   batch_size: int) -> list[list[list[int]]]:
    """Groups per prompt pass: at most `batch_size` prompts, in order of their longest answer (so the answers of
    one pass are of similar lengths and their batches need little padding)."""
    order = sorted(groups, key=lambda g: max(answer_length(samples[i]) for i in g))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def answer_batches(indices: list[int], samples: Sequence[dict[str, list[int]]], batch_size: int, vocab: int,
                   budget: int, batch_tokens: int | None = None) -> list[list[int]]:
    """The answers of one prompt pass sorted by length and cut into batches of at most `batch_size` answers,
    `batch_tokens` answer tokens (answers x longest answer) and `budget` logits (answers x (longest answer + 1)
    x vocabulary); one answer at least."""
    tokens = batch_tokens or float("inf")
    batches: list[list[int]] = []
    for i in sorted(indices, key=lambda i: answer_length(samples[i])):
        rows, longest = len(batches[-1]) + 1 if batches else 0, answer_length(samples[i])
        if batches and rows <= batch_size and rows * longest <= tokens and rows * (longest + 1) * vocab <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@dataclass
class PromptPass:
    """One pass over the distinct prompts of some groups: their key/value cache (left unchanged by
    `score_answers`), each prompt's last logits (they predict its answers' first tokens), the prompts'
    attention mask and real lengths, the row of each sample's prompt, and the keyword the model takes the
    cache under."""

    cache: Any
    last_logits: torch.Tensor
    mask: torch.Tensor
    lengths: list[int]
    row: dict[int, int]
    keyword: str


@torch.no_grad()
def run_prompts(model: Any, samples: Sequence[dict[str, list[int]]], groups: list[list[int]],
                pad_id: int) -> PromptPass | None:
    """The prompt pass of `groups` (prompts left-padded to the longest, explicit positions), or None when the
    model returns no key/value cache that can be copied row by row (its samples are then scored whole)."""
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
                position_ids=positions.to(device), use_cache=True, **last_logits_only(model))
    keyword = cache_keyword(model)
    cache = getattr(out, keyword, None)
    if not hasattr(cache, "reorder_cache"):
        return None
    return PromptPass(cache, out.logits[:, -1:, :], prompt_mask, [len(p) for p in prompts],
                      {i: row for row, g in enumerate(groups) for i in g}, keyword)


@torch.no_grad()
def score_answers(model: Any, samples: Sequence[dict[str, list[int]]], prompts: PromptPass, indices: list[int],
                  pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [R, A + 1, V], labels [R, A + 1]) of the answers `indices` after their prompts' cache: row r's
    logits[t] predict labels[t + 1], as a plain pass's logits[:, :-1] and labels[:, 1:] do (column 0 of the
    labels is IGNORE_INDEX; the first logits are the prompt's last)."""
    device = next(model.parameters()).device
    owner = [prompts.row[i] for i in indices]
    cache = copy.deepcopy(prompts.cache)  # the answer pass appends to it; other batches need it unchanged
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
    lengths = torch.tensor([prompts.lengths[g] for g in owner])
    answer_positions = lengths.unsqueeze(1) + torch.arange(a_width).unsqueeze(0)
    mask = torch.cat([prompts.mask[owner], answer_mask], dim=1)
    answer_logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                          position_ids=answer_positions.to(device), use_cache=True,
                          **{prompts.keyword: cache}).logits
    return torch.cat([prompts.last_logits[owner], answer_logits], dim=1), labels.to(device)
