"""Prompts, answer-only labels and padding (SPEC section 2).

A sample is a prompt x and a target y. The prompt is built with the tokenizer's chat template (chat
models) or a plain template (base models); the target is the answer followed by the end-of-sequence
token, which counts as part of y. Prompt and target are tokenised separately and concatenated, so the
label boundary is exact and generation starts from exactly the prompt the model was trained on.

Padding never hides real tokens: attention masks and labels are built from sequence lengths, not from
`ids != pad_id`, which would mask a real eos whenever pad == eos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from unlearn.errors import ModelLoadError
from unlearn.losses.logprobs import IGNORE_INDEX


def ensure_pad_token(tokenizer: Any) -> None:
    """Give a tokenizer without a pad token one: its eos token (safe, since masks come from
    lengths). A tokenizer with neither cannot be batched."""
    if tokenizer.pad_token_id is not None:
        return
    if tokenizer.eos_token is None:
        raise ModelLoadError(
            "the tokenizer has neither a pad token nor an eos token; add one "
            "(tokenizer.add_special_tokens({'pad_token': '<pad>'}) and resize the embeddings)"
        )
    tokenizer.pad_token = tokenizer.eos_token


@dataclass
class PromptFormatter:
    """Turns questions into prompt token ids and answers into target token ids."""

    tokenizer: Any
    template: str = "Question: {question}\nAnswer: "
    chat_template: bool | None = None

    def __post_init__(self) -> None:
        if self.chat_template is None:
            self.chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        if "{question}" not in self.template:
            from unlearn.errors import ConfigError

            raise ConfigError(f"data.template {self.template!r} must contain {{question}}")
        if self.tokenizer.eos_token_id is None:
            raise ModelLoadError("the tokenizer has no eos token; set tokenizer.eos_token before training")

    def prompt_text(self, question: str) -> str:
        if self.chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
            )
        return self.template.format(question=question)

    def prompt_ids(self, question: str) -> list[int]:
        # A chat template already writes the special tokens it wants (bos included).
        return self.tokenizer(self.prompt_text(question), add_special_tokens=not self.chat_template)["input_ids"]

    def target_ids(self, answer: str) -> list[int]:
        return self.tokenizer(answer, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def encode(self, question: str, answer: str, max_length: int = 512) -> dict[str, list[int]]:
        """One training sample: input_ids = prompt + answer + eos, labels = -100 on the prompt."""
        prompt = self.prompt_ids(question)
        target = self.target_ids(answer)
        if len(prompt) >= max_length:
            prompt = prompt[-(max_length - 1):]
        target = target[: max_length - len(prompt)]
        return {"input_ids": prompt + target, "labels": [IGNORE_INDEX] * len(prompt) + target}


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
