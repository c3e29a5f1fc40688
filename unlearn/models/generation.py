"""The generation pass: batched, left-padded decoding of each prompt once, stopping at every eos id of
the model and tokenizer and at a chat template's end-of-turn token (SPEC section 2). Evaluation,
the target generators and BS_S's regenerated answers all decode through `generate_texts`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from unlearn.core.batching import collate_left


def stop_token_ids(model: Any, tokenizer: Any, extra: Sequence[int] = ()) -> list[int]:
    """Every id that ends a generation (SPEC section 2): the model's generation_config.eos_token_id
    (an int or a list), the tokenizer's eos and `extra` (e.g. a chat template's end-of-turn id)."""
    config = getattr(model, "generation_config", None)
    ids: list[int] = []
    for value in (getattr(config, "eos_token_id", None), tokenizer.eos_token_id, *extra):
        for token in ([] if value is None else [value] if isinstance(value, int) else value):
            if int(token) not in ids:
                ids.append(int(token))
    return ids


def cut_at_stop(row: list[int], stop_ids: Sequence[int]) -> list[int]:
    """The tokens of `row` before the first stop id."""
    return next((row[:i] for i, token in enumerate(row) if token in stop_ids), row)


@torch.no_grad()
def generate_texts(model: Any, tokenizer: Any, prompts: Sequence[list[int]], batch_size: int = 32,
                   max_new_tokens: int = 200, stop_ids: Sequence[int] = (), do_sample: bool = False,
                   on_batch: Callable[[], None] | None = None, temperature: float = 1.0,
                   top_p: float | None = None) -> list[str]:
    """Continuation of each prompt (left-padded batches), greedy or sampled (at `temperature`, from the
    top-p nucleus when `top_p` is given; seed the global torch RNG first for reproducible samples),
    decoded without special tokens.
    Generation stops at every id of `stop_token_ids(model, tokenizer, stop_ids)`; pass the prompt
    formatter's end_token_id as `stop_ids` for a chat model. Each output is cut at its first stop id."""
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    texts = [""] * len(prompts)
    stops = stop_token_ids(model, tokenizer, stop_ids)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate_left([prompts[i] for i in chunk], tokenizer.pad_token_id).items()}
        out = model.generate(**batch, do_sample=do_sample, max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=stops,
                             temperature=temperature if do_sample else None, top_p=top_p if do_sample else None,
                             top_k=None)
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        for i, row in zip(chunk, new_tokens.tolist()):
            texts[i] = tokenizer.decode(cut_at_stop(row, stops), skip_special_tokens=True).strip()
        if on_batch:
            on_batch()
    return texts
