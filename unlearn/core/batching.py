"""Padding encoded samples into batches (SPEC section 2): masks come from lengths, never from
`ids != pad_id`, which would hide a real end token whenever pad == eos."""

from __future__ import annotations

from typing import Sequence

import torch

IGNORE_INDEX = -100
"""The label of prompt and padding positions: no loss, no score."""


def collate(samples: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded samples. The attention mask is 1 on each sample's real length,
    whatever its token ids are; labels are -100 on padding."""
    width = max(len(s["input_ids"]) for s in samples)
    n = len(samples)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    for i, s in enumerate(samples):
        length = len(s["input_ids"])
        input_ids[i, :length] = torch.tensor(s["input_ids"])
        labels[i, :length] = torch.tensor(s["labels"])
        attention_mask[i, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate_left(prompts: Sequence[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts for batched generation; the mask again comes from lengths."""
    width = max(len(p) for p in prompts)
    n = len(prompts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        input_ids[i, width - len(p):] = torch.tensor(p)
        attention_mask[i, width - len(p):] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
