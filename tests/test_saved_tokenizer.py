"""A saved model folder (SPEC section 2 tokenisation rides on its tokenizer): written whole or not at
all, and with a tokenizer_config.json that transformers 4.x loads as well as 5.x."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.models.loading import portable_tokenizer_class, save_model
from unlearn.models.tiny import tiny_llama_config, train_tokenizer

from conftest import add_chatml

# Tokenizer classes that exist in transformers 4.45 (checked against its top-level names). Hard-coded:
# transformers 5's "TokenizersBackend" is not among them, and 4.45 refuses to load it.
V4_45_CLASSES = {
    "PreTrainedTokenizerFast", "GPT2TokenizerFast", "LlamaTokenizerFast", "CodeLlamaTokenizerFast",
    "GemmaTokenizerFast", "Qwen2TokenizerFast", "GPTNeoXTokenizerFast", "BloomTokenizerFast",
    "CodeGenTokenizerFast", "CohereTokenizerFast",
}
TEXTS = ["Question: Where is the tower?\nAnswer: Paris is big. The tower is in Paris.",
         "the cat sat on the mat and the dog ran in the park"] * 4
ROUND_TRIP = "Question: Où est la tour?\nAnswer:  Paris, 42 ünïcode\t<|im_end|> tabs\n\n"


def _tiny(chat: bool = False):
    from transformers import LlamaForCausalLM

    tok = train_tokenizer(TEXTS, vocab_size=300)
    if chat:
        add_chatml(tok)
    config = tiny_llama_config(len(tok), hidden_size=16, layers=1, heads=2, intermediate_size=32, tokenizer=tok)
    torch.manual_seed(0)
    return LlamaForCausalLM(config), tok


def _config(folder):
    return json.loads((folder / "tokenizer_config.json").read_text())


@pytest.mark.parametrize("chat", [False, True])
def test_saved_tokenizer_names_a_v4_class_and_round_trips(tmp_path, chat):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = _tiny(chat)
    out = tmp_path / "model"
    save_model(model, tok, out)
    config = _config(out)
    assert config["tokenizer_class"] in V4_45_CLASSES
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # a plain tokenizers-backed tokenizer

    loaded = AutoTokenizer.from_pretrained(out)
    ids = loaded(ROUND_TRIP)["input_ids"]
    assert ids == tok(ROUND_TRIP)["input_ids"]
    assert loaded.decode(ids, skip_special_tokens=False) == "<s>" + ROUND_TRIP
    assert loaded.decode(loaded(ROUND_TRIP, add_special_tokens=False)["input_ids"]) == ROUND_TRIP
    assert (loaded.bos_token, loaded.eos_token, loaded.pad_token) == ("<s>", "</s>", "<pad>")
    if chat:
        # transformers 4.45 reads the chat template and special tokens from tokenizer_config.json only
        assert config["chat_template"] == tok.chat_template
        assert {"<|im_start|>", "<|im_end|>"} <= set(config["additional_special_tokens"])
        assert not isinstance(config.get("extra_special_tokens"), list)
        assert loaded.chat_template == tok.chat_template
        assert "<|im_end|>" in loaded.all_special_tokens
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(reloaded.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_portable_tokenizer_class():
    assert portable_tokenizer_class("TokenizersBackend", {}) == "PreTrainedTokenizerFast"
    assert portable_tokenizer_class("GPT2Tokenizer", {}) == "GPT2TokenizerFast"
    assert portable_tokenizer_class("Qwen2TokenizerFast", {}) == "Qwen2TokenizerFast"
    assert portable_tokenizer_class("LlamaTokenizer", {"add_prefix_space": None}) == "LlamaTokenizerFast"
    # 4.45's LlamaTokenizerFast rebuilds itself from a sentencepiece file when add_prefix_space is set
    assert portable_tokenizer_class("LlamaTokenizer", {"add_prefix_space": True}) == "PreTrainedTokenizerFast"
    assert portable_tokenizer_class(None, {}) == "PreTrainedTokenizerFast"


def test_save_into_an_existing_folder_replaces_it(tmp_path):
    model, tok = _tiny()
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    (out / "model.safetensors").write_text("not weights")
    save_model(model, tok, out)
    names = {p.name for p in out.iterdir()}
    assert "stale.txt" not in names
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary or old siblings left


def test_failed_save_leaves_the_destination_untouched(tmp_path, monkeypatch):
    model, tok = _tiny()
    out = tmp_path / "model"
    save_model(model, tok, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tok, "save_pretrained", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, tok, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    # a first save that crashes creates no folder at all
    with pytest.raises(OSError):
        save_model(model, tok, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
