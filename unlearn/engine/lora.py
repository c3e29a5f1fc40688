"""LoRA through peft (SPEC 3.4: ReLearn's r 32, alpha 32, dropout 0.05 on all linear layers but the
head). With LoRA the reference model is the same weights with the adapter disabled, so only one copy
of the base weights is ever in memory."""

from __future__ import annotations

from typing import Any

import torch

from unlearn.config import LoraConfig
from unlearn.core.errors import ConfigError


def check_lora(cfg: LoraConfig) -> None:
    """Checked before any model is loaded (r, dropout and save: by their declared ranges, unlearn.config)."""
    if cfg.r > 0 and not cfg.target_modules:
        raise ConfigError("lora.target_modules is empty; name the modules to adapt, or all-linear")


def apply_lora(model: torch.nn.Module, cfg: LoraConfig, seed: int = 0) -> Any:
    """Wrap `model` with a LoRA adapter; only the adapter's parameters train. LoRA A is initialised
    randomly: from `seed`, not from the global random state, so the same config gives the same run."""
    try:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model
    except ImportError:
        raise ConfigError("LoRA needs the peft package: pip install peft") from None
    targets: Any = cfg.target_modules
    if list(targets) == ["all-linear"]:
        targets = "all-linear"  # peft: every linear layer except the output head
    peft_cfg = PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets,
                              bias="none", task_type="CAUSAL_LM")
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        from peft import prepare_model_for_kbit_training  # norms to float32, inputs that carry gradients

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    try:
        with torch.random.fork_rng(devices=[]):  # the global random state is left as it was
            torch.manual_seed(seed)
            return get_peft_model(model, peft_cfg)
    except ValueError as err:
        raise ConfigError(f"lora.target_modules {cfg.target_modules}: {str(err).splitlines()[0]}") from None


def is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "merge_and_unload")


def model_to_save(unwrapped: torch.nn.Module, cfg: LoraConfig) -> torch.nn.Module:
    """What `model/` holds: the merged plain model (default) or the peft model (adapter only)."""
    if not is_peft(unwrapped) or cfg.save == "adapter":
        return unwrapped
    return unwrapped.merge_and_unload()
