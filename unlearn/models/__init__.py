"""Models: safe loading and saving (safetensors, GGUF, LoRA; loading), the tiny model and its tokenizer
(tiny), text generation with stop ids (generation)."""

from unlearn.models.loading import load_model, load_tokenizer, save_model

__all__ = ["load_model", "load_tokenizer", "save_model"]
