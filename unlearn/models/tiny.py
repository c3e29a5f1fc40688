"""Tiny models: a byte-level BPE tokenizer trained on a benchmark's text (the synthetic world, TOFU, any
benchmark folder) and a small Llama-style model built from a config (random weights, to be fine-tuned
by `unlearn finetune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
MIN_VOCAB = 256 + len(SPECIAL_TOKENS)
"""A byte-level BPE tokenizer holds every byte and the special tokens before it learns any merge."""
HEADS = 4


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Train a byte-level BPE tokenizer (exact round trip of any text) and wrap it for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    from tokenizers.processors import TemplateProcessing

    core.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", core.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_llama_config(vocab_size: int, hidden_size: int = 256, layers: int = 2, heads: int = HEADS,
                      intermediate_size: int = 688, max_positions: int = 256, tokenizer=None):
    from transformers import LlamaConfig

    ids = {}
    if tokenizer is not None:
        ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True, **ids,
    )


def benchmark_texts(bench) -> list[str]:
    """Every string of every split file of a benchmark (questions, answers, paraphrases, perturbed
    answers, texts, choices), once each in first-seen order: the corpus of a tiny model's tokenizer."""
    seen: set[str] = set()
    texts: list[str] = []

    def add(value) -> None:
        for s in value if isinstance(value, list) else [value]:
            if isinstance(s, str) and s and s not in seen:
                seen.add(s)
                texts.append(s)

    for split in sorted(bench.files):
        records, _, _, _ = bench.read_split(split)
        for record in records:
            for key in ("question", "answer", "paraphrased_answer", "perturbed_answer", "text", "choices"):
                add(record.get(key))
    return texts


def build_tiny_model(texts: Iterable[str], out: str | Path, *, seed: int = 0, vocab_size: int = 2048,
                     hidden_size: int = 256, layers: int = 2, intermediate_size: int = 688,
                     max_positions: int = 256) -> Path:
    """Train the tokenizer, initialise the model with `seed`, save both to `out` (safetensors)."""
    from transformers import LlamaForCausalLM

    from unlearn.models.loading import save_model

    tokenizer = train_tokenizer(texts, vocab_size)
    if len(tokenizer) < vocab_size:
        from unlearn.core.errors import warn

        warn(f"the tokenizer learnt {len(tokenizer)} tokens, fewer than the {vocab_size} asked for (the text has no "
             f"more merges to learn); the model's vocabulary is {len(tokenizer)}")
    config = tiny_llama_config(len(tokenizer), hidden_size=hidden_size, layers=layers,
                               intermediate_size=intermediate_size, max_positions=max_positions, tokenizer=tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    save_model(model, tokenizer, out)
    return Path(out)
