from unlearn.models.loading import load_model, load_tokenizer, save_model

__all__ = ["load_model", "load_tokenizer", "save_model"]
