"""A tiny model for the real TOFU (../shared/data/tofu): a tokenizer trained on the folder's text, a
freshly initialised Llama, and two fine-tuning steps on forget01 + retain99 (the target model's data)."""

from __future__ import annotations

import json

import pytest
from test_tofu import TOFU

from unlearn.cli import main

pytestmark = pytest.mark.skipif(not (TOFU / "forget01.json").is_file(), reason="no local TOFU copy beside the repo")


def test_tiny_model_from_tofu_then_two_finetune_steps(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from unlearn import api
    from unlearn.config import load_config

    init = tmp_path / "init"
    assert main(["tiny-model", "--data", str(TOFU), "--benchmark", "tofu", "--out", str(init),
                 "--vocab-size", "300", "--hidden-size", "32", "--layers", "1"]) == 0
    tok = AutoTokenizer.from_pretrained(init)
    config = AutoConfig.from_pretrained(init)
    # 256 byte symbols + 4 special tokens + merges learnt from the text, 300 in all (asked for).
    assert len(tok) == 300 and config.vocab_size == 300
    assert (config.hidden_size, config.num_hidden_layers, config.max_position_embeddings) == (32, 1, 512)
    answer = json.loads((TOFU / "forget01.json").read_text())[0]["answer"]
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == answer                       # byte-level BPE: exact round trip
    assert len(ids) < len(answer.encode("utf-8"))          # merges were learnt: fewer tokens than bytes

    run = tmp_path / "target"
    cfg = load_config(overrides=[f"out={run}", f"model.path={init}", "data.benchmark=tofu", f"data.path={TOFU}",
                                 "data.forget_split=forget01", "train.max_steps=2", "train.batch_size=2",
                                 "train.lr=1e-3", "data.max_length=128", "eval.enabled=false"])
    result = api.finetune(cfg)
    assert result["steps"] == 2
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    losses = [row["loss"] for row in logged if "loss" in row]
    # A random model over 300 tokens starts near the uniform cross-entropy, ln(300) = 5.70.
    assert len(losses) == 2 and 5.0 < losses[0] < 6.5
    assert (run / "model" / "model.safetensors").is_file()


def test_tokenizer_corpus_holds_every_field_of_the_folder():
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.models.tiny import benchmark_texts

    texts = set(benchmark_texts(load_benchmark("tofu", str(TOFU), "forget01")))
    first = json.loads((TOFU / "forget01.json").read_text())[0]
    author = json.loads((TOFU / "real_authors_perturbed.json").read_text().splitlines()[0])
    refusal = (TOFU / "idontknow.jsonl").read_text().splitlines()[0].strip()
    assert {first["question"], first["answer"], first["paraphrased_answer"], *first["perturbed_answer"]} <= texts
    assert {author["question"], author["answer"], *author["perturbed_answer"], refusal} <= texts


def test_tiny_model_needs_one_text_source(tmp_path, capsys):
    assert main(["tiny-model", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "--world FOLDER" in err and "--data PATH --benchmark NAME" in err and len(err.strip().splitlines()) == 1
    assert main(["tiny-model", "--data", str(TOFU), "--out", str(tmp_path / "m")]) == 2
    assert "--benchmark" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
