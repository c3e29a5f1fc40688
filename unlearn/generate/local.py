"""A local Hugging Face causal LM as a generator: batched, with the chat template when the tokenizer
has one, greedy and batched on a request's first round and sampled (seeded by the request, temperature
0.7, top-p 0.9) on a regeneration round,
so a rejected answer is not asked again with the same result. Its name carries a fingerprint of the
weights, so the call cache never serves one model's answers for another's."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from unlearn.core.device import device
from unlearn.generate.base import SAMPLE_TEMPERATURE, Request

SAMPLE_TOP_P = 0.9
"""Regeneration rounds sample from this nucleus at SAMPLE_TEMPERATURE (at temperature 1 over the whole
vocabulary a small model writes nonsense)."""


class LocalGenerator:
    def __init__(self, model: Any, tokenizer: Any, label: str = "model", max_new_tokens: int = 128,
                 batch_size: int = 8):
        from unlearn.core.cache import model_fingerprint
        from unlearn.data.tokenize import PromptFormatter

        self.model, self.tokenizer = model.eval(), tokenizer
        if device() == "cuda" and next(model.parameters()).device.type == "cpu":
            self.model = model.to("cuda")
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.fmt = PromptFormatter(tokenizer, "{question}")
        self.name = f"hf:{label}@{model_fingerprint(model)[:12]}"
        self.settings = {"max_new_tokens": max_new_tokens, "temperature": SAMPLE_TEMPERATURE, "top_p": SAMPLE_TOP_P}

    @classmethod
    def from_path(cls, path: str, gguf_file: str | None = None, **kwargs: Any) -> "LocalGenerator":
        from unlearn.config import ModelConfig
        from unlearn.models import load_model, load_tokenizer

        cfg = ModelConfig(path=path, gguf_file=gguf_file)
        return cls(load_model(cfg), load_tokenizer(cfg), label=path, **kwargs)

    def generate(self, requests: Sequence[Request]) -> list[str]:
        from unlearn.models.generation import generate_texts

        def run(rs: Sequence[Request], sample: bool) -> list[str]:
            return generate_texts(self.model, self.tokenizer, [self.fmt.prompt_ids(r.prompt) for r in rs],
                                  self.batch_size, self.max_new_tokens, [self.fmt.end_token_id], do_sample=sample,
                                  temperature=SAMPLE_TEMPERATURE, top_p=SAMPLE_TOP_P)

        out: dict[int, str] = {}
        greedy = [i for i, r in enumerate(requests) if int(r.params.get("round", 1)) == 1]
        out.update(zip(greedy, run([requests[i] for i in greedy], False)))  # batched
        for i, r in enumerate(requests):  # a regeneration round: sampled, seeded by its own request
            if i not in out:
                torch.manual_seed(int(r.key()[:8], 16))
                out[i] = run([r], True)[0]
        return [out[i] for i in range(len(requests))]
