"""Prompts, answer-only labels and padding (SPEC section 2) with a tokenizer whose pad == eos."""

from __future__ import annotations

import pytest
import torch

from unlearn.data.tokenize import PromptFormatter, collate, collate_left, ensure_pad_token
from unlearn.errors import ConfigError, ModelLoadError
from unlearn.models.tiny import train_tokenizer

M = -100
TEXTS = [
    "Question: Who is Ann Lee?\nAnswer: Ann Lee is a painter from Oslo.",
    "Question: Where does Bob Stone live with his family?\nAnswer: In a small town by the sea.",
    "the cat sat on the mat and the dog ran in the park",
] * 4
SAMPLES = [
    ("Who is Ann Lee?", "A painter."),
    ("Where does Bob Stone live with his family?", "In a small town by the sea, near Oslo."),
]


def _tokenizer(pad_is_eos: bool = True):
    tok = train_tokenizer(TEXTS, vocab_size=300)
    if pad_is_eos:
        tok.pad_token = tok.eos_token
    return tok


@pytest.fixture(scope="module")
def tok():
    t = _tokenizer()
    assert t.pad_token_id == t.eos_token_id  # the case this file is about
    return t


def test_prompt_and_target_ids(tok):
    fmt = PromptFormatter(tok)
    assert fmt.chat_template is False  # no chat template: the plain template is used
    assert fmt.prompt_text("Who?") == "Question: Who?\nAnswer: "
    prompt = fmt.prompt_ids("Who is Ann Lee?")
    assert prompt[0] == tok.bos_token_id
    assert tok.decode(prompt, skip_special_tokens=True) == "Question: Who is Ann Lee?\nAnswer: "
    target = fmt.target_ids("A painter.")
    assert target[-1] == tok.eos_token_id
    assert tok.bos_token_id not in target
    assert tok.decode(target[:-1]) == "A painter."
    enc = fmt.encode("Who is Ann Lee?", "A painter.")
    assert enc["input_ids"] == prompt + target
    assert enc["labels"] == [M] * len(prompt) + target


def test_custom_template(tok):
    fmt = PromptFormatter(tok, template="Q: {question} A:")
    assert fmt.prompt_text("x") == "Q: x A:"
    with pytest.raises(ConfigError):
        PromptFormatter(tok, template="no placeholder")


def test_collate_keeps_real_eos_when_pad_is_eos(tok):
    fmt = PromptFormatter(tok)
    encoded = [fmt.encode(q, a) for q, a in SAMPLES]
    prompt_lens = [len(fmt.prompt_ids(q)) for q, _ in SAMPLES]
    lengths = [len(e["input_ids"]) for e in encoded]
    assert lengths[0] < lengths[1]  # the first sample is padded
    pad_id = tok.pad_token_id
    batch = collate(encoded, pad_id)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    width = max(lengths)
    assert ids.shape == mask.shape == labels.shape == (2, width)

    for i, (length, plen) in enumerate(zip(lengths, prompt_lens)):
        # real tokens, in order, then padding
        assert ids[i, :length].tolist() == encoded[i]["input_ids"]
        assert (ids[i, length:] == pad_id).all()
        # the real eos ending the target is attended to and is a label
        assert ids[i, length - 1].item() == tok.eos_token_id
        assert mask[i, length - 1].item() == 1
        assert labels[i, length - 1].item() == tok.eos_token_id
        # mask is 1 exactly on the real length
        assert mask[i].tolist() == [1] * length + [0] * (width - length)
        # labels: -100 exactly on the prompt and on padding, the token id on the target
        is_target = [plen <= t < length for t in range(width)]
        for t in range(width):
            if is_target[t]:
                assert labels[i, t].item() == ids[i, t].item() != M
            else:
                assert labels[i, t].item() == M

    # a naive mask `ids != pad_id` would have hidden each sample's real eos (and would differ
    # from the mask collate builds): this is what makes the test above meaningful
    naive = (ids != pad_id).long()
    for i, length in enumerate(lengths):
        assert naive[i, length - 1].item() == 0
    assert not torch.equal(naive, mask)


def test_collate_labels_count_eos_in_target(tok):
    fmt = PromptFormatter(tok)
    q, a = SAMPLES[0]
    enc = fmt.encode(q, a)
    n_target = sum(1 for x in enc["labels"] if x != M)
    assert n_target == len(tok(a, add_special_tokens=False)["input_ids"]) + 1


def test_encode_truncates_to_max_length(tok):
    fmt = PromptFormatter(tok)
    q, a = SAMPLES[1]
    full = fmt.encode(q, a)
    plen = len(fmt.prompt_ids(q))
    # room for the prompt and 2 target tokens
    enc = fmt.encode(q, a, max_length=plen + 2)
    assert len(enc["input_ids"]) == plen + 2
    assert enc["input_ids"] == full["input_ids"][: plen + 2]
    assert enc["labels"] == [M] * plen + full["input_ids"][plen: plen + 2]
    # a prompt longer than max_length keeps its end and one target token
    enc = fmt.encode(q, a, max_length=4)
    assert len(enc["input_ids"]) == 4
    assert enc["input_ids"][:3] == fmt.prompt_ids(q)[-3:]
    assert enc["labels"] == [M, M, M, full["input_ids"][plen]]


def test_collate_left_pads_on_the_left_with_mask_from_lengths():
    pad = 2
    # the second prompt starts with a real token equal to the pad id: it must stay visible
    batch = collate_left([[5, 6, 7, 8], [2, 9], [4, 3, 1]], pad)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [2, 2, 2, 9], [2, 4, 3, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]]
    naive = (batch["input_ids"] != pad).long()
    assert naive[1].tolist() == [0, 0, 0, 1]  # what `ids != pad_id` would have said


def test_ensure_pad_token_uses_eos_when_missing():
    tok = _tokenizer(pad_is_eos=False)
    assert tok.pad_token == "<pad>"
    ensure_pad_token(tok)
    assert tok.pad_token == "<pad>"  # an existing pad token is kept
    tok.pad_token = None
    assert tok.pad_token_id is None
    ensure_pad_token(tok)
    assert tok.pad_token == tok.eos_token == "</s>"
    assert tok.pad_token_id == tok.eos_token_id


def test_ensure_pad_token_without_pad_or_eos_raises():
    tok = _tokenizer(pad_is_eos=False)
    tok.pad_token = None
    tok.eos_token = None
    with pytest.raises(ModelLoadError) as err:
        ensure_pad_token(tok)
    assert "pad" in str(err.value) and "eos" in str(err.value)
    with pytest.raises(ModelLoadError):
        PromptFormatter(tok)  # no eos: targets cannot be ended
