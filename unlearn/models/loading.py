"""Loading and saving models safely: safetensors weights, no remote code unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unlearn.config import ModelConfig
from unlearn.data.tokenize import ensure_pad_token
from unlearn.errors import ConfigError, ModelLoadError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _looks_local(path: str) -> bool:
    return path.startswith((".", "/", "~")) or Path(path).exists() or path.count("/") != 1


def _check_path(path: str, what: str) -> None:
    if not path:
        raise ConfigError(f"no {what} given; set model.path to a model folder or hub name")
    if _looks_local(path) and not Path(path).expanduser().exists():
        raise ModelLoadError(
            f"{what} path {path!r} does not exist; give a folder saved with save_pretrained "
            "(config.json + weights) or a hub name like org/model"
        )


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def load_tokenizer(cfg: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    path = cfg.tokenizer or cfg.path
    _check_path(path, "tokenizer" if cfg.tokenizer else "model")
    kwargs: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file and not cfg.tokenizer:
        kwargs["gguf_file"] = cfg.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(Path(path).expanduser()) if _looks_local(path) else path, **kwargs)
    except Exception as err:  # noqa: BLE001 - turn library errors into one actionable line
        raise ModelLoadError(f"cannot load the tokenizer from {path!r} ({_one_line(err)})") from None
    ensure_pad_token(tokenizer)
    return tokenizer


def load_model(cfg: ModelConfig, path: str | None = None) -> torch.nn.Module:
    """Load a causal LM. Weights must be safetensors (or a GGUF file named by `gguf_file`)."""
    from transformers import AutoModelForCausalLM

    path = path or cfg.path
    _check_path(path, "model")
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"model.dtype {cfg.dtype!r} is unknown; valid: {', '.join(DTYPES)}")
    kwargs: dict[str, Any] = {"dtype": DTYPES[cfg.dtype], "trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    else:
        kwargs["use_safetensors"] = True
    local = _looks_local(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(Path(path).expanduser()) if local else path, **kwargs)
    except Exception as err:  # noqa: BLE001
        hint = ""
        if "safetensors" in str(err).lower():
            hint = "; only safetensors weights are loaded: convert the checkpoint with save_pretrained(safe_serialization=True)"
        raise ModelLoadError(f"cannot load the model from {path!r} ({_one_line(err)}){hint}") from None
    if cfg.gguf_file:
        # transformers de-quantises GGUF weights to `dtype` on load but keeps a GGUF quantizer attached,
        # which refuses save_pretrained. The weights are plain tensors now: drop the marker so the
        # unlearned model saves as safetensors.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")
    return model


def save_model(model: torch.nn.Module, tokenizer: Any, out: str | Path) -> None:
    """Save in the Hugging Face layout with safetensors weights, loadable by from_pretrained."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
