"""Loading and saving models safely: safetensors weights, no remote code unless asked."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from unlearn.config import ModelConfig, RunConfig
from unlearn.core.atomic import atomic_folder, write_json
from unlearn.core.errors import ConfigError, ModelLoadError
from unlearn.data.tokenize import ensure_pad_token

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


def _check_remote_code(path: str, cfg: ModelConfig) -> None:
    """A model folder that ships its own code (auto_map in config.json) loads only with
    model.trust_remote_code=true: say so before transformers fails with a message about its own
    argument (or, for the tokenizer, about something else entirely)."""
    if cfg.trust_remote_code:
        return
    config = Path(path).expanduser() / "config.json"
    try:
        auto_map = json.loads(config.read_text(encoding="utf-8")).get("auto_map") if config.is_file() else None
    except (OSError, ValueError, AttributeError):
        return
    if auto_map and not _native(config):
        raise ModelLoadError(_remote_code_message(path, ", ".join(sorted(set(map(str, auto_map.values())))[:2])))


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _check_weights(folder: Path) -> None:
    """A local model folder must hold safetensors weights: pickle files are never loaded (unpickling can
    run code), and a folder without weights is named as such, not as a library error."""
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(f"the model {str(folder)!r} holds only pickle weights ({', '.join(pickles[:2])}), which "
                             "are not loaded because unpickling can run code; convert them once, where you trust "
                             "them, with model.save_pretrained(folder, safe_serialization=True)")
    ggufs = sorted(p.name for p in folder.glob("*.gguf"))
    if ggufs:
        raise ModelLoadError(f"the model {str(folder)!r} holds a GGUF file; name it with model.gguf_file={ggufs[0]}")
    raise ModelLoadError(f"the model {str(folder)!r} has no weights (no *.safetensors file); give the folder "
                         "save_pretrained wrote (config.json and model.safetensors)")


def _native(config_file: Path) -> bool:
    """Whether transformers has a class of its own for the folder's model_type (many hub models, e.g.
    Phi-3, ship code in auto_map yet load without it); then no code needs running."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        return json.loads(config_file.read_text(encoding="utf-8")).get("model_type") in CONFIG_MAPPING
    except (OSError, ValueError, AttributeError):
        return False


def _remote_code_message(path: str, code: str = "") -> str:
    shipped = f" ({code})" if code else ""
    return (f"the model {path!r} ships its own code{shipped}, which is not run by default; set "
            "model.trust_remote_code=true if you trust its source")


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def check_model_files(cfg: ModelConfig, path: str | None = None) -> None:
    """What can be checked of a model without loading it: the path exists, a local folder holds
    safetensors weights (or the GGUF file named) and ships no code unless trusted. Raises a one-line
    error; nothing is loaded."""
    path = path or cfg.path
    _check_path(path, "model")
    check_model_options(cfg)
    local = Path(path).expanduser()
    if local.is_file():
        hint = (f"model.path={str(local.parent)!r} model.gguf_file={local.name!r}" if local.suffix == ".gguf"
                else f"model.path={str(local.parent)!r}")
        raise ModelLoadError(f"model {path!r} is a file; give the folder that holds it (config.json and the weights): "
                             f"{hint}")
    if _looks_local(path):
        _check_remote_code(path, cfg)
        if cfg.gguf_file:
            if not (Path(path).expanduser() / cfg.gguf_file).is_file():
                raise ModelLoadError(f"model.gguf_file {cfg.gguf_file!r} is not in {path!r}; name a .gguf file there")
        else:
            _check_weights(Path(path).expanduser())
    if cfg.tokenizer:
        _check_path(cfg.tokenizer, "tokenizer")


def check_model_options(cfg: ModelConfig) -> None:
    """Loading options this machine cannot honour, as one-line errors before anything loads: flash attention
    and bitsandbytes quantisation need CUDA (and their packages)."""
    import importlib.util


    cuda = torch.cuda.is_available()
    if cfg.attn_implementation and cfg.attn_implementation.startswith("flash_attention"):
        if not cuda:
            raise ConfigError(f"model.attn_implementation={cfg.attn_implementation} needs a CUDA GPU; use sdpa (the "
                              "default) or eager on CPU")
        if importlib.util.find_spec("flash_attn") is None and cfg.attn_implementation == "flash_attention_2":
            raise ConfigError("model.attn_implementation=flash_attention_2 needs the flash-attn package; pip install "
                              "flash-attn, or use sdpa")
    bits = [n for n, on in (("load_in_4bit", cfg.load_in_4bit), ("load_in_8bit", cfg.load_in_8bit)) if on]
    if len(bits) > 1:
        raise ConfigError("model.load_in_4bit and model.load_in_8bit are both set; choose one")
    if bits:
        if not cuda:
            raise ConfigError(f"model.{bits[0]} quantises the base with bitsandbytes, which needs a CUDA GPU; on CPU "
                              "train LoRA on the full-precision model (drop the option)")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(f"model.{bits[0]} needs the bitsandbytes package; pip install bitsandbytes")
        if cfg.gguf_file:
            raise ConfigError(f"model.{bits[0]} with a GGUF file: transformers de-quantises GGUF weights on load; "
                              "convert the model to safetensors first (a saved unlearn run is), then quantise")


def _loading_options(cfg: ModelConfig) -> dict[str, Any]:
    """from_pretrained's attention and quantisation options (only those set)."""
    options: dict[str, Any] = {}
    if cfg.attn_implementation:
        options["attn_implementation"] = cfg.attn_implementation
    if cfg.load_in_4bit or cfg.load_in_8bit:
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = (
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
            if cfg.load_in_4bit else BitsAndBytesConfig(load_in_8bit=True))
    return options


def load_tokenizer(cfg: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    path = cfg.tokenizer or cfg.path
    _check_path(path, "tokenizer" if cfg.tokenizer else "model")
    if _looks_local(path):
        _check_remote_code(path, cfg)
    kwargs: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file and not cfg.tokenizer:
        kwargs["gguf_file"] = cfg.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(Path(path).expanduser()) if _looks_local(path) else path, **kwargs)
    except Exception as err:  # noqa: BLE001 - turn library errors into one actionable line
        if "trust_remote_code" in str(err):
            raise ModelLoadError(_remote_code_message(path)) from None
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
    check_model_options(cfg)
    kwargs: dict[str, Any] = {"dtype": DTYPES[cfg.dtype], "trust_remote_code": cfg.trust_remote_code,
                              **_loading_options(cfg)}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    else:
        kwargs["use_safetensors"] = True
    local = _looks_local(path)
    if local:
        _check_remote_code(path, cfg)
        if not cfg.gguf_file:
            _check_weights(Path(path).expanduser())
    try:
        model = AutoModelForCausalLM.from_pretrained(str(Path(path).expanduser()) if local else path, **kwargs)
    except Exception as err:  # noqa: BLE001
        if "trust_remote_code" in str(err):
            raise ModelLoadError(_remote_code_message(path)) from None
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


def check_vocabulary(model: torch.nn.Module, tokenizer: Any, cfg: ModelConfig) -> None:
    """A tokenizer with more tokens than the model has embedding rows would feed ids past the end of the
    embedding matrix (an index error deep inside torch): a one-line error instead."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    rows = getattr(embeddings, "num_embeddings", None)
    if isinstance(rows, int) and len(tokenizer) > rows:
        raise ModelLoadError(
            f"the tokenizer of {cfg.tokenizer or cfg.path!r} has {len(tokenizer)} tokens but the model's embedding "
            f"matrix has {rows} rows, so token ids {rows} and up would index past it; give the model's own "
            "tokenizer (model.tokenizer), or resize the model's embeddings to len(tokenizer) "
            "(model.resize_token_embeddings) and save it")


@dataclass
class ContextLimit:
    """How many tokens a sample may have (data.max_length, or the model's context when shorter), and the
    warning when samples were cut to it."""

    tokens: int
    model_context: int | None = None
    """The model's positions when they, not data.max_length, set the limit."""
    max_length: int = 0
    positions: int | None = None
    """The model's positions (max_position_embeddings), when it says."""

    def report_generation(self, prompt_lengths: list[int], max_new_tokens: int, what: str) -> None:
        """Warn when a prompt plus eval.max_new_tokens would run past the model's positions."""
        if self.positions is None:
            return
        over = [n for n in prompt_lengths if n + max_new_tokens > self.positions]
        if over:
            from unlearn.core.errors import warn

            warn(f"{len(over)} of {len(prompt_lengths)} generation prompts of {what} plus eval.max_new_tokens="
                 f"{max_new_tokens} run past the model's context of {self.positions} positions (longest prompt: "
                 f"{max(over)} tokens); answers that long are unreliable: lower eval.max_new_tokens")

    def report(self, cut_lengths: list[int], total: int, what: str) -> None:
        if not cut_lengths:
            return
        from unlearn.core.errors import warn

        if self.model_context is not None:
            why = f"the model's context of {self.model_context} positions, below data.max_length={self.max_length}"
            fix = "shorten them, or use a model with a longer context"
        else:
            why, fix = f"data.max_length={self.tokens}", "raise data.max_length, or shorten them"
        warn(f"{len(cut_lengths)} of {total} samples of {what} are longer than {self.tokens} tokens ({why}); they "
             f"were cut from the answer's end, or a prompt too long alone from its start (longest: "
             f"{max(cut_lengths)} tokens); {fix}")


def context_limit(model: torch.nn.Module, max_length: int) -> ContextLimit:
    """data.max_length, lowered to the model's number of positions when that is smaller."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    positions = positions if isinstance(positions, int) and positions > 1 else None
    if positions is not None and positions < max_length:
        return ContextLimit(positions, positions, max_length, positions)
    return ContextLimit(max_length, None, max_length, positions)


# Fast tokenizer classes that transformers 4.45 knows (a causal-LM subset). A saved tokenizer_config.json
# names one of them, so the saved model's tokenizer loads with transformers 4.x as well as 5.x.
V4_FAST_TOKENIZER_CLASSES = frozenset({
    "PreTrainedTokenizerFast", "GPT2TokenizerFast", "LlamaTokenizerFast", "CodeLlamaTokenizerFast",
    "GemmaTokenizerFast", "Qwen2TokenizerFast", "GPTNeoXTokenizerFast", "BloomTokenizerFast",
    "CodeGenTokenizerFast", "CohereTokenizerFast",
})


def portable_tokenizer_class(name: str | None, config: dict[str, Any]) -> str:
    """A tokenizer class name transformers 4.x and 5.x both load from tokenizer.json: the v4 fast class
    of the same tokenizer when there is one (v5 writes 'LlamaTokenizer' for v4's LlamaTokenizerFast),
    else PreTrainedTokenizerFast (v5's 'TokenizersBackend', which v4 rejects)."""
    name = name or ""
    fast = name if name.endswith("Fast") else name + "Fast"
    if fast not in V4_FAST_TOKENIZER_CLASSES:
        return "PreTrainedTokenizerFast"
    if fast == "LlamaTokenizerFast" and config.get("add_prefix_space") is not None:
        return "PreTrainedTokenizerFast"  # v4 would rebuild it from a sentencepiece file v5 does not save
    return fast


def make_tokenizer_config_portable(folder: str | Path) -> None:
    """Rewrite folder/tokenizer_config.json (atomically) so transformers 4.x loads it too: a class
    name v4 knows, the chat template inline (v4.45 does not read chat_template.jinja) and v5's list of
    `extra_special_tokens` as `additional_special_tokens` (v4.47+ expects a dict there)."""
    folder = Path(folder)
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    config["tokenizer_class"] = portable_tokenizer_class(config.get("tokenizer_class"), config)
    jinja = folder / "chat_template.jinja"
    if "chat_template" not in config and jinja.is_file():
        config["chat_template"] = jinja.read_text()
    extra = config.get("extra_special_tokens")
    if isinstance(extra, list):
        known = config.get("additional_special_tokens") or []
        config["additional_special_tokens"] = known + [t for t in config.pop("extra_special_tokens") if t not in known]
    write_json(path, config)


def save_model(model: torch.nn.Module, tokenizer: Any, out: str | Path,
               state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """Save in the Hugging Face layout with safetensors weights, loadable by from_pretrained, with a
    tokenizer_config.json transformers 4.x loads too. Everything is written to a temporary sibling
    folder that is renamed into place when complete, so a crash never leaves a half-written model
    folder; an existing `out` is replaced. `state_dict`: the full weights when they were gathered from
    sharded training (Accelerator.get_state_dict); default the model's own."""
    out = Path(os.path.abspath(Path(out).expanduser()))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
            make_tokenizer_config_portable(tmp)


def saved_model_config(cfg: RunConfig, path: str) -> ModelConfig:
    """The model config of another model folder than the run's own: a folder `unlearn` saved (plain
    safetensors with its own tokenizer) or a side model (retain, reference). The run's GGUF file and
    tokenizer path describe the model it started from, so they are dropped."""
    return replace(cfg.model, path=path, tokenizer=None, gguf_file=None)


def model_spec(spec: str) -> tuple[str, str | None]:
    """A model named on the command line or in the config, `PATH` or `PATH#FILE.gguf`: (the folder, the
    GGUF file in it or None)."""
    path, _, gguf_file = spec.partition("#")
    return path, gguf_file or None
