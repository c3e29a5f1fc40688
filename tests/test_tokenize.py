"""Prompts, answer-only labels and padding (SPEC section 2) with a tokenizer whose pad == eos."""

from __future__ import annotations

import pytest
import torch

from unlearn.core.batching import collate, collate_left
from unlearn.core.errors import ConfigError, ModelLoadError
from unlearn.data.tokenize import PromptFormatter, ensure_pad_token
from unlearn.models.tiny import train_tokenizer

from conftest import add_chatml

M = -100
TEXTS = [
    "Question: Who is Ann Lee?\nAnswer: Ann Lee is a painter from Oslo.",
    "Question: Where does Bob Stone live with his family?\nAnswer: In a small town by the sea.",
    "the cat sat on the mat and the dog ran in the park",
    "Question: Where is the tower?\nAnswer: Paris is big. The tower is in Paris, not far from Paris.",
] * 4
SAMPLES = [
    ("Who is Ann Lee?", "A painter."),
    ("Where does Bob Stone live with his family?", "In a small town by the sea, near Oslo."),
]


def _tokenizer(pad_is_eos: bool = True):
    tok = train_tokenizer(TEXTS, vocab_size=400)
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
    assert fmt.end_token_id == tok.eos_token_id  # plain template: targets end with eos
    assert fmt.prompt_text("Who?") == "Question: Who?\nAnswer: "
    prompt = fmt.prompt_ids("Who is Ann Lee?")
    assert prompt[0] == tok.bos_token_id
    assert prompt.count(tok.bos_token_id) == 1
    # the template's trailing space belongs to the answer's first token, so the prompt ends before it
    assert tok.decode(prompt, skip_special_tokens=True) == "Question: Who is Ann Lee?\nAnswer:"
    enc = fmt.encode("Who is Ann Lee?", "In a small town.")
    assert enc["input_ids"][: len(prompt)] == prompt
    target = enc["input_ids"][len(prompt):]
    assert target[-1] == tok.eos_token_id
    assert tok.bos_token_id not in target
    assert tok.decode(target[:-1]) == " In a small town."
    assert enc["labels"] == [M] * len(prompt) + target


def _joint_expectation(tok, prompt_text: str, answer: str, special: bool = True):
    """Independently of PromptFormatter: the joint ids of prompt + answer and the number of them that
    lie wholly in the prompt (a plain loop over the tokenizer's character offsets)."""
    enc = tok(prompt_text + answer, add_special_tokens=special, return_offsets_mapping=True)
    n_prompt = 0
    for start, end in enc["offset_mapping"]:
        if end > len(prompt_text):
            break
        n_prompt += 1
    return enc["input_ids"], n_prompt


def test_encode_tokenises_prompt_and_answer_jointly(tok):
    fmt = PromptFormatter(tok)
    q, a = "Where is the tower?", "Paris is big"
    prompt_text = "Question: Where is the tower?\nAnswer: "
    assert "ĠParis" in tok.get_vocab()  # the case this test is about
    # tokenised alone, the prompt ends in a lone 'Ġ' the model never sees before a word
    assert tok.convert_ids_to_tokens(tok(prompt_text)["input_ids"])[-1] == "Ġ"

    joint = tok(prompt_text + a)["input_ids"]  # bos + the running text
    head = tok(prompt_text.rstrip(" "))["input_ids"]  # bos + the prompt without its trailing space
    assert joint[: len(head)] == head
    answer_tokens = joint[len(head):]
    assert tok.convert_ids_to_tokens(answer_tokens[0]) == "ĠParis"
    assert tok.decode(answer_tokens) == " Paris is big"

    enc = fmt.encode(q, a)
    assert enc["input_ids"] == joint + [tok.eos_token_id]
    assert enc["labels"] == [M] * len(head) + answer_tokens + [tok.eos_token_id]
    targets = [x for x in enc["labels"] if x != M]
    assert tok.convert_ids_to_tokens(targets[0]) == "ĠParis"
    assert tok.decode([targets[0]]) == " Paris"
    assert "Ġ" not in tok.convert_ids_to_tokens(targets)
    assert targets[-1] == tok.eos_token_id
    assert enc["input_ids"].count(tok.bos_token_id) == 1


def test_prompt_ids_is_the_prompt_part_of_the_joint_encoding(tok):
    fmt = PromptFormatter(tok)
    q = "Where is the tower?"
    prompt_text = fmt.prompt_text(q)
    alone = tok(prompt_text)["input_ids"]
    assert tok.convert_ids_to_tokens(alone[-1]) == "Ġ"
    # the rule: the prompt alone, less its trailing lone space, which the answer's first word takes
    assert fmt.prompt_ids(q) == alone[:-1]
    for answer in ("Paris is big", "Paris", "The tower is in Paris.", "Ann Lee is a painter."):
        joint, n_prompt = _joint_expectation(tok, prompt_text, answer)
        assert fmt.prompt_ids(q) == joint[:n_prompt], answer
        assert fmt.encode(q, answer)["labels"][:n_prompt] == [M] * n_prompt
        assert fmt.encode(q, answer)["labels"][n_prompt] == joint[n_prompt] != M


def test_answer_that_does_not_take_the_space_keeps_it_in_the_prompt(tok):
    # no 'Ġ4' in this vocabulary: running text is 'Ġ', '4', so the lone space is the prompt's
    fmt = PromptFormatter(tok)
    q = "Where is the tower?"
    joint, n_prompt = _joint_expectation(tok, fmt.prompt_text(q), "42")
    assert tok.convert_ids_to_tokens(joint[n_prompt - 1]) == "Ġ"
    enc = fmt.encode(q, "42")
    assert enc["input_ids"] == joint + [tok.eos_token_id]
    assert enc["labels"] == [M] * n_prompt + joint[n_prompt:] + [tok.eos_token_id]


def test_template_without_trailing_space_keeps_the_whole_prompt(tok):
    fmt = PromptFormatter(tok, template="Q: {question}\nA:")
    q = "Where is the tower?"
    assert fmt.prompt_ids(q) == tok("Q: Where is the tower?\nA:")["input_ids"]
    joint, n_prompt = _joint_expectation(tok, fmt.prompt_text(q), " Paris")
    assert joint[:n_prompt] == fmt.prompt_ids(q)
    assert tok.convert_ids_to_tokens(joint[n_prompt]) == "ĠParis"
    assert fmt.encode(q, " Paris")["labels"] == [M] * n_prompt + joint[n_prompt:] + [tok.eos_token_id]


def test_chat_template_ends_targets_with_end_of_turn():
    tok = add_chatml(_tokenizer())
    im_start, im_end = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    fmt = PromptFormatter(tok)
    assert fmt.chat_template is True
    assert fmt.end_token_id == im_end != tok.eos_token_id
    q, a = "Where is the tower?", "Paris is big"
    prompt_text = "<|im_start|>user\nWhere is the tower?<|im_end|>\n<|im_start|>assistant\n"
    assert fmt.prompt_text(q) == prompt_text
    # the chat template writes its own special tokens: no bos is added
    head = tok(prompt_text, add_special_tokens=False)["input_ids"]
    joint = tok(prompt_text + a, add_special_tokens=False)["input_ids"]
    assert head[0] == im_start and tok.bos_token_id not in joint
    assert joint[: len(head)] == head
    assert fmt.prompt_ids(q) == head  # '\n' does not merge into the answer
    enc = fmt.encode(q, a)
    assert enc["input_ids"] == joint + [im_end]
    assert enc["labels"] == [M] * len(head) + joint[len(head):] + [im_end]
    assert enc["labels"][-1] == im_end and tok.eos_token_id not in enc["labels"]
    assert tok.decode(joint[len(head):]) == "Paris is big"


def test_chat_template_ending_turns_with_eos_uses_eos():
    tok = _tokenizer(pad_is_eos=False)
    tok.chat_template = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}"
                         "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
                         "{% if add_generation_prompt %}[assistant] {% endif %}")
    fmt = PromptFormatter(tok)
    assert fmt.end_token_id == tok.eos_token_id
    assert fmt.encode("Where?", "Paris")["labels"][-1] == tok.eos_token_id


def test_custom_template(tok):
    fmt = PromptFormatter(tok, template="Q: {question} A:")
    assert fmt.prompt_text("x") == "Q: x A:"
    with pytest.raises(ConfigError):
        PromptFormatter(tok, template="no placeholder")


def test_collate_keeps_real_eos_when_pad_is_eos(tok):
    fmt = PromptFormatter(tok)
    encoded = [fmt.encode(q, a) for q, a in SAMPLES]
    prompt_lens = [_joint_expectation(tok, fmt.prompt_text(q), a)[1] for q, a in SAMPLES]
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
    joint, n_prompt = _joint_expectation(tok, fmt.prompt_text(q), a)
    assert n_target == len(joint) - n_prompt + 1


def test_encode_truncates_to_max_length(tok):
    fmt = PromptFormatter(tok)
    q, a = SAMPLES[1]
    full = fmt.encode(q, a)
    plen = _joint_expectation(tok, fmt.prompt_text(q), a)[1]
    assert plen == len(fmt.prompt_ids(q))  # 'ĠIn' takes the template's trailing space
    # room for the prompt and 2 target tokens
    enc = fmt.encode(q, a, max_length=plen + 2)
    assert len(enc["input_ids"]) == plen + 2
    assert enc["input_ids"] == full["input_ids"][: plen + 2]
    assert enc["labels"] == [M] * plen + full["input_ids"][plen: plen + 2]
    # a prompt longer than max_length keeps its end and one target token
    enc = fmt.encode(q, a, max_length=4)
    assert len(enc["input_ids"]) == 4
    assert enc["input_ids"][:3] == full["input_ids"][plen - 3: plen]
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
