"""The shared teacher-forced and generation passes: batching and padding must not change results."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearn.data.tokenize import PromptFormatter
from unlearn.eval.passes import teacher_forced_pass
from unlearn.models.generation import generate_texts, stop_token_ids
from unlearn.models.tiny import SPECIAL_TOKENS, tiny_llama_config, train_tokenizer

TEXTS = [
    "Question: Who is Ann Lee?\nAnswer: Ann Lee is a painter from Oslo.",
    "Question: Where does Bob Stone live with his family?\nAnswer: In a small town by the sea.",
    "the cat sat on the mat and the dog ran in the park",
] * 4
SHORT = ("Who is Ann Lee?", "A painter.")
LONG = ("Where does Bob Stone live with his family and his two cats?",
        "In a small town by the sea, near Oslo, with the dog and the cat.")


@pytest.fixture(scope="module")
def setup():
    from transformers import LlamaForCausalLM

    tok = train_tokenizer(TEXTS, vocab_size=300)
    tok.pad_token = tok.eos_token  # the hard case: padding with the real eos id
    config = tiny_llama_config(len(tok), hidden_size=32, layers=1, heads=2, intermediate_size=64, tokenizer=tok)
    # With the default init (std 0.02) and tied embeddings a random model only repeats the prompt's
    # last token, whatever the context; larger weights make its output depend on the context.
    config.initializer_range = 0.2
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    return tok, model, PromptFormatter(tok)


def _manual_nll(model, sample) -> tuple[float, int]:
    """-sum of log_softmax at each target position, by a plain loop over positions, unbatched."""
    ids = torch.tensor([sample["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    total, count = 0.0, 0
    labels = sample["labels"]
    for t in range(len(labels) - 1):
        if labels[t + 1] != -100:  # position t predicts token t + 1
            total -= logp[t, labels[t + 1]].item()
            count += 1
    return total, count


def score_sequences(model, samples, pad, batch_size=32):
    """(NLL sum, target tokens) of each sample from the evaluator's teacher-forced pass."""
    rows = teacher_forced_pass(model, samples, pad, batch_size)
    return [(-sum(r["token_logps"]), len(r["token_logps"])) for r in rows]


def test_score_sequences_matches_manual_and_is_padding_invariant(setup):
    tok, model, fmt = setup
    short, long = fmt.encode(*SHORT), fmt.encode(*LONG)
    assert len(long["input_ids"]) > len(short["input_ids"]) + 5
    pad = tok.pad_token_id

    alone = score_sequences(model, [short], pad)
    batched = score_sequences(model, [long, short], pad, batch_size=2)  # short is right-padded
    long_alone = score_sequences(model, [long], pad)

    manual_short = _manual_nll(model, short)
    manual_long = _manual_nll(model, long)
    # answer tokens of the joint tokenisation (those after the prompt's tokens) + eos
    head = tok("Question: Who is Ann Lee?\nAnswer: ")["input_ids"]
    joint = tok("Question: Who is Ann Lee?\nAnswer: " + SHORT[1])["input_ids"]
    if tok.convert_ids_to_tokens(joint[len(head) - 1]) != "Ġ":  # the space went to the answer
        head = head[:-1]
    assert joint[: len(head)] == head
    n_short = len(joint) - len(head) + 1
    assert alone[0][1] == batched[1][1] == manual_short[1] == n_short
    assert batched[0][1] == manual_long[1]

    assert alone[0][0] > 0
    assert alone[0][0] == pytest.approx(manual_short[0], abs=1e-4)
    assert batched[1][0] == pytest.approx(alone[0][0], abs=1e-4)
    # results come back in input order, not in the length order used for batching
    assert batched[0][0] == pytest.approx(long_alone[0][0], abs=1e-4)
    assert batched[0][0] == pytest.approx(manual_long[0], abs=1e-4)
    assert abs(batched[0][0] - batched[1][0]) > 1e-2  # the two samples are distinguishable


def test_score_sequences_small_batches_keep_order(setup):
    tok, model, fmt = setup
    samples = [fmt.encode(*LONG), fmt.encode(*SHORT), fmt.encode("Who?", "Bob."), fmt.encode(*SHORT)]
    one_batch = score_sequences(model, samples, tok.pad_token_id, batch_size=8)
    tiny_batches = score_sequences(model, samples, tok.pad_token_id, batch_size=1)
    for (a, n), (b, m), s in zip(one_batch, tiny_batches, samples):
        assert n == m
        assert a == pytest.approx(b, abs=1e-4)
        assert a == pytest.approx(_manual_nll(model, s)[0], abs=1e-4)


def test_generate_greedy_same_alone_and_left_padded(setup):
    tok, model, fmt = setup
    short_prompt, long_prompt = fmt.prompt_ids(SHORT[0]), fmt.prompt_ids(LONG[0])
    assert len(long_prompt) > len(short_prompt) + 5
    alone = generate_texts(model, tok, [short_prompt], max_new_tokens=8)
    long_alone = generate_texts(model, tok, [long_prompt], max_new_tokens=8)
    batched = generate_texts(model, tok, [long_prompt, short_prompt], max_new_tokens=8)
    assert alone[0] != ""  # something was generated, so the comparison says something
    assert batched == [long_alone[0], alone[0]]
    assert alone[0] != long_alone[0]

    # the same left padding with the padding attended to changes the answer: the comparison above
    # really checks that the mask (and positions) come from the prompt lengths
    ids = torch.tensor([[tok.pad_token_id] * (len(long_prompt) - len(short_prompt)) + short_prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=8, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    unmasked = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert unmasked != alone[0]


def test_generate_greedy_is_greedy(setup):
    tok, model, fmt = setup
    prompt = fmt.prompt_ids(SHORT[0])
    # argmax decoding by hand, 4 steps, stopping at eos
    ids = list(prompt)
    new = []
    with torch.no_grad():
        for _ in range(4):
            nxt = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            ids.append(nxt)
            new.append(nxt)
    expected = tok.decode(new, skip_special_tokens=True).strip()
    assert generate_texts(model, tok, [prompt], max_new_tokens=4) == [expected]


def _greedy_ids(model, prompt, steps):
    ids, new = list(prompt), []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(nxt)
            new.append(nxt)
    return new


def test_generate_greedy_stops_at_every_eos_of_the_generation_config(setup):
    tok, model, fmt = setup
    prompt = fmt.prompt_ids(SHORT[0])
    new = _greedy_ids(model, prompt, 6)
    assert tok.eos_token_id not in new[:3]
    second_eos = new[2]  # the third greedy token becomes a second eos id (as Llama 3's <|eot_id|>)
    assert second_eos not in new[:2]
    model = copy.deepcopy(model)
    full = generate_texts(model, tok, [prompt], max_new_tokens=6)
    model.generation_config.eos_token_id = [tok.eos_token_id, second_eos]
    stopped = generate_texts(model, tok, [prompt], max_new_tokens=6)
    assert stopped == [tok.decode(new[:2], skip_special_tokens=True).strip()]
    assert stopped != full


class _ScriptedModel(torch.nn.Module):
    """`generate` appends a fixed continuation, ignoring any eos it is given, and records its kwargs."""

    def __init__(self, continuation, eos=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.continuation = continuation
        self.generation_config = type("GenerationConfig", (), {"eos_token_id": eos})()
        self.calls = []

    def generate(self, input_ids, attention_mask, **kwargs):
        self.calls.append(kwargs)
        tail = torch.tensor([self.continuation] * input_ids.shape[0])
        return torch.cat([input_ids, tail], dim=1)


def test_generate_greedy_cuts_at_the_first_stop_id_and_takes_stop_ids(setup):
    tok, _, fmt = setup
    words = tok("Ann Lee is a painter", add_special_tokens=False)["input_ids"]
    assert len(words) >= 4
    # two ordinary (not special) ids standing for an end-of-turn token and a second eos: decoding
    # with skip_special_tokens would not hide them, so only the cut removes them
    im_end, extra = [i for i in range(len(SPECIAL_TOKENS), len(tok)) if i not in words][:2]
    model = _ScriptedModel(words[:2] + [im_end] + words[2:] + [extra] + words[:1], eos=[tok.eos_token_id, extra])
    prompt = fmt.prompt_ids(SHORT[0])
    out = generate_texts(model, tok, [prompt], stop_ids=[im_end])
    assert out == [tok.decode(words[:2]).strip()]
    assert sorted(model.calls[0]["eos_token_id"]) == sorted({tok.eos_token_id, extra, im_end})
    # without the end-of-turn id the output runs on to the generation config's second eos
    out = generate_texts(model, tok, [prompt])
    assert out == [tok.decode(words[:2] + [im_end] + words[2:]).strip()]


def test_stop_token_ids_gathers_config_tokenizer_and_extra_ids(setup):
    tok, _, _ = setup
    assert stop_token_ids(_ScriptedModel([], eos=7), tok, [9]) == [7, tok.eos_token_id, 9]
    assert stop_token_ids(_ScriptedModel([], eos=[7, 8, tok.eos_token_id]), tok) == [7, 8, tok.eos_token_id]
    assert stop_token_ids(_ScriptedModel([], eos=None), tok) == [tok.eos_token_id]


def test_batches_respect_the_logits_budget(monkeypatch):
    from unlearn.eval import passes

    monkeypatch.setattr(passes, "LOGITS_BUDGET", 100)
    lengths = [2, 2, 2, 10, 10]
    # rows * longest length * vocab 5 <= 100: three short ones fit, then two of length 10
    assert passes._batches([0, 1, 2, 3, 4], lengths, 8, 5) == [[0, 1, 2], [3, 4]]
    assert passes._batches([0, 1, 2, 3, 4], lengths, 2, 5) == [[0, 1], [2, 3], [4]]
    assert passes._batches([3, 4], lengths, 8, 50) == [[3], [4]]  # one sample over budget still runs alone
