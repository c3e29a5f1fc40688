"""Shared fixtures: a tiny synthetic world and a small, quickly trained model, made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("UNLEARN_CACHE", str(Path(__file__).parent / ".cache"))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    from unlearn.data.world import generate_world

    folder = tmp_path_factory.mktemp("world")
    generate_world(folder, seed=0, n_people=10, n_general=4)
    return folder


@pytest.fixture(scope="session")
def init_model(world, tmp_path_factory) -> Path:
    """A randomly initialised, very small Llama with a tokenizer trained on the world."""
    from unlearn.api import build_tiny_model

    out = tmp_path_factory.mktemp("init")
    return build_tiny_model(world, out, seed=0, vocab_size=512, hidden_size=64, layers=1)


@pytest.fixture(scope="session")
def target_model(world, init_model, tmp_path_factory) -> Path:
    """The small model fine-tuned briefly on the whole world (not to memorisation: fast)."""
    from unlearn import api
    from unlearn.config import load_config

    out = tmp_path_factory.mktemp("target")
    cfg = load_config(overrides=[f"out={out}", f"model.path={init_model}", f"data.path={world}",
                                 "train.lr=3e-3", "train.max_steps=30", "train.batch_size=16",
                                 "eval.enabled=false"])
    return Path(api.finetune(cfg)["model_dir"])


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m unlearn ARGS` in a subprocess, as a user would."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "unlearn", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=timeout)


# A ChatML chat template (as Qwen's), for testing the chat-model path with a tiny tokenizer.
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def add_chatml(tokenizer):
    """Give a tokenizer the ChatML template, with '<|im_start|>' and '<|im_end|>' added as special
    tokens (a model using it needs its embeddings resized to len(tokenizer))."""
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer
