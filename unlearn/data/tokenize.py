"""Prompts, answer-only labels and padding (SPEC section 2).

A sample is a prompt x and a target y. The prompt is built with the tokenizer's chat template (chat
models) or a plain template such as "Question: {question}\\nAnswer: " (base models).

Which tokens are scored (SPEC section 2, joint tokenisation):

* prompt + answer are tokenised as ONE text, so the answer's tokens are exactly those a model sees in
  running text. With byte-level BPE and a template ending in a space, the space belongs to the answer's
  first token: "Answer: Paris" is [..., 'Answer', ':', 'ĠParis'], never [..., ':', 'Ġ', 'Paris'].
* The boundary is found by character offsets: an answer token is every token whose character span
  overlaps the answer's characters (the first answer token included, even when it also covers the
  template's trailing space). Everything before it is prompt and gets label -100.
* The target is all answer tokens followed by the end token: the chat template's end-of-turn token
  (e.g. '<|im_end|>' for ChatML) for chat models, `eos_token_id` for plain templates. The end token is
  appended as an id, never as text, so it cannot merge with the answer.
* Special tokens: a chat template writes its own (tokenised with add_special_tokens=False); a plain
  template gets the tokenizer's usual ones (bos) once at the start. Special tokens a tokenizer would
  append after the text (an automatic eos) are dropped: the end token above ends the target.
* `max_length` cuts the answer's end; a prompt that alone reaches `max_length` keeps its last
  `max_length - 1` tokens and one target token.
* The prompt for generation (`prompt_ids`) is the prompt part of the joint encoding: the tokens lying
  wholly in the prompt, ending before any trailing whitespace the tokenizer's pre-tokenizer joins to the
  next word (the model generates 'ĠParis' itself). It equals `encode`'s prompt part whenever the
  answer's first token takes that whitespace, as the words of a real vocabulary do. When it does not
  (an answer starting with whitespace, or ' 4' where a tokenizer splits digits off, as Llama 3 and Qwen
  do) the joint encoding keeps a lone whitespace token in the prompt part, which the model generates.

Raw samples (`encode_raw`: MUSE's corpora, verbatim prefixes, any kind "text" or "completion" record)
use no template and no chat template: prefix + continuation are tokenised as one text with the
tokenizer's usual special tokens (bos), labels on the continuation and the eos token, split by the same
character offsets. An empty prefix makes the whole text the target.

Padding never hides real tokens: attention masks and labels are built from sequence lengths, not from
`ids != pad_id`, which would mask a real eos whenever pad == eos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from unlearn.core.batching import IGNORE_INDEX
from unlearn.core.errors import ConfigError, ModelLoadError

# A typical answer's first word: `prompt_ids` takes the prompt part of the joint encoding of
# prompt + PROBE_ANSWER, so a trailing space the tokenizer joins to the next word is left to the answer.
PROBE_ANSWER = "Yes"
_TURN_MARK = "UNLEARN_ANSWER_MARK_7f3a"


def ensure_pad_token(tokenizer: Any) -> None:
    """Give a tokenizer without a pad token one: its eos token (safe, since masks come from
    lengths). A tokenizer with neither cannot be batched."""
    if tokenizer.pad_token_id is not None:
        return
    if tokenizer.eos_token is None:
        raise ModelLoadError(
            "the tokenizer has neither a pad token nor an eos token; add one "
            "(tokenizer.add_special_tokens({'pad_token': '<pad>'}) and resize the embeddings)"
        )
    tokenizer.pad_token = tokenizer.eos_token


def _special_token_strings(tokenizer: Any) -> set[str]:
    strings = {str(t) for t in getattr(tokenizer, "all_special_tokens", [])}
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            strings.add(str(token.content))
    return {s for s in strings if s}


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The chat template's end-of-turn token (SPEC section 2): the first special token that follows
    the assistant's content in a rendered conversation, e.g. '<|im_end|>' for ChatML. None when the
    template cannot render one or writes no special token after the answer."""
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _TURN_MARK}]
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False)
    except Exception:  # noqa: BLE001 - a template that rejects this conversation: fall back to eos
        return None
    if not isinstance(text, str) or _TURN_MARK not in text:
        return None
    tail = text[text.index(_TURN_MARK) + len(_TURN_MARK):]
    found = [(tail.find(s), -len(s), s) for s in _special_token_strings(tokenizer) if s in tail]
    if not found:
        return None
    token_id = tokenizer.convert_tokens_to_ids(min(found)[2])
    return token_id if isinstance(token_id, int) and token_id != tokenizer.unk_token_id else None


@dataclass
class PromptFormatter:
    """Turns (question, answer) pairs into jointly tokenised samples with answer-only labels, and
    questions into generation prompts (SPEC section 2; the module docstring says which tokens count)."""

    tokenizer: Any
    template: str = "Question: {question}\nAnswer: "
    chat_template: bool | None = None
    end_token_id: int = field(init=False)
    cut_lengths: list[int] = field(init=False, default_factory=list)
    """The full length of every sample `max_length` cut, in encoding order (for warnings)."""

    def __post_init__(self) -> None:
        if self.chat_template is None:
            self.chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        if "{question}" not in self.template:
            raise ConfigError(f"data.template {self.template!r} must contain {{question}}")
        if self.tokenizer.eos_token_id is None:
            raise ModelLoadError("the tokenizer has no eos token; set tokenizer.eos_token before training")
        turn_end = end_of_turn_id(self.tokenizer) if self.chat_template else None
        self.end_token_id = turn_end if turn_end is not None else self.tokenizer.eos_token_id

    def prompt_text(self, question: str, context: str = "") -> str:
        """The prompt of a question; `context` (in-context examples, MUSE's KnowMem) goes before the
        templated question, or at the start of the user's message under a chat template."""
        if self.chat_template:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": context + question}], tokenize=False, add_generation_prompt=True
            )
        return context + self.template.format(question=question)

    def _split(self, text: str, boundary: int, raw: bool = False) -> tuple[list[int], list[int]]:
        """Jointly tokenise `text` and split it at character `boundary`: the second part is every
        token whose span ends after it (SPEC section 2). Special tokens the tokenizer appends after
        the text (an automatic eos) are dropped. `raw`: no template was applied, so the tokenizer's
        usual special tokens (bos) are added even for a chat model."""
        try:
            enc = self.tokenizer(text, add_special_tokens=raw or not self.chat_template,
                                 return_offsets_mapping=True, return_special_tokens_mask=True)
        except NotImplementedError:
            raise ModelLoadError("joint tokenisation needs character offsets: load a fast "
                                 "(tokenizers-backed) tokenizer") from None
        ids, offsets, special = enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"]
        text_positions = [i for i, s in enumerate(special) if not s]
        stop = text_positions[-1] + 1 if text_positions else 0
        cut = next((i for i in text_positions if offsets[i][1] > boundary), stop)
        return list(ids[:cut]), list(ids[cut:stop])

    def _merge_start(self, text: str, at: int) -> int:
        """Where the whitespace before character `at` starts when the tokenizer's pre-tokenizer joins
        it to the word after `at` (' Yes' in 'Answer: Yes'); `at` otherwise, or when the tokenizer
        has no pre-tokenizer whose offsets match the raw text."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        pre = getattr(backend, "pre_tokenizer", None)
        norm = getattr(backend, "normalizer", None)
        if pre is None or (norm is not None and norm.normalize_str(text) != text):
            return at
        for _, (start, end) in pre.pre_tokenize_str(text):
            if start < at < end and not text[start:at].strip():
                return start
        return at

    def split_ids(self, question: str, answer: str, context: str = "") -> tuple[list[int], list[int]]:
        """(prompt ids, answer ids) of the joint tokenisation of prompt + answer: the answer's tokens
        are those whose character span overlaps the answer. The end token is not included."""
        prompt = self.prompt_text(question, context)
        return self._split(prompt + answer, len(prompt))

    def prompt_ids(self, question: str, context: str = "") -> list[int]:
        """The generation prompt: the tokens of the joint encoding of prompt + a word that lie wholly
        in the prompt and before any trailing whitespace the tokenizer merges into that word (the
        model generates 'ĠParis' itself). The word is PROBE_ANSWER; with a pre-tokenizer the split is
        made where it joins the whitespace to the word, whether or not the vocabulary merges them."""
        prompt = self.prompt_text(question, context)
        text = prompt + PROBE_ANSWER
        return self._split(text, self._merge_start(text, len(prompt)))[0]

    @cached_property
    def longest_token(self) -> int:
        """Characters of the vocabulary's longest token (a bound on the text one token covers)."""
        try:
            return max(16, max(len(t) for t in self.tokenizer.get_vocab()))
        except (AttributeError, TypeError, ValueError):
            return 64

    def bounded(self, text: str, max_length: int) -> str:
        """`text` without the part no sample of `max_length` tokens can reach: a 50 MB answer is cut before
        it is tokenised (which would take minutes and gigabytes) to what the cut sample keeps anyway."""
        limit = (max_length + 2) * self.longest_token
        return text if len(text) <= limit else text[:limit]

    def encode(self, question: str, answer: str, max_length: int = 512, context: str = "") -> dict[str, list[int]]:
        """One training sample: input_ids = prompt + answer + end token (joint tokenisation),
        labels = -100 on the prompt and the token ids on the answer and the end token."""
        prompt, answer_ids = self.split_ids(question, self.bounded(answer, max_length), context)
        return self._fit(prompt, answer_ids + [self.end_token_id], max_length)

    # -- raw text: no template, no chat template (MUSE's corpora and verbatim prefixes) ----------------
    def encode_raw(self, prefix: str, continuation: str, max_length: int = 512, end: bool = True
                   ) -> dict[str, list[int]]:
        """A sample scored without any template: prefix + continuation tokenised as one text with the
        tokenizer's usual special tokens (its bos, if it adds one), labels on the continuation's tokens
        (found by character offsets, as in `encode`) and, with `end`, the eos token. With an empty prefix
        the whole text is the target: every token after the bos is scored."""
        continuation = self.bounded(continuation, max_length)
        prefix_ids, continuation_ids = self._split(prefix + continuation, len(prefix), raw=True)
        return self._fit(prefix_ids, continuation_ids + ([self.tokenizer.eos_token_id] if end else []), max_length)

    def _fit(self, prompt: list[int], target: list[int], max_length: int) -> dict[str, list[int]]:
        if len(prompt) + len(target) > max_length:
            self.cut_lengths.append(len(prompt) + len(target))
        return _sample(prompt, target, max_length)

    def prompt_ids_raw(self, prefix: str) -> list[int]:
        """The generation prompt of a raw prefix (no template): its tokens with the tokenizer's bos,
        ending before any trailing whitespace the tokenizer joins to the next word, as `prompt_ids`.
        An empty prefix gives the bos alone (nothing, for a tokenizer that adds no bos)."""
        text = prefix + PROBE_ANSWER
        return self._split(text, self._merge_start(text, len(prefix)), raw=True)[0]

    def encode_record(self, record: dict[str, Any], max_length: int = 512) -> dict[str, list[int]]:
        """A training record: `"raw": True` records (text corpora, completions) with `encode_raw`,
        question-answer records with the prompt template (`encode`)."""
        encode = self.encode_raw if record.get("raw") else self.encode
        return encode(record["question"], record["answer"], max_length)


def _sample(prompt: list[int], target: list[int], max_length: int) -> dict[str, list[int]]:
    """input_ids = prompt + target, labels -100 on the prompt; `max_length` cuts the target's end, and a
    prompt that alone reaches it keeps its last max_length - 1 tokens and one target token."""
    if len(prompt) >= max_length:
        prompt = prompt[len(prompt) - (max_length - 1):]
    target = target[: max_length - len(prompt)]
    return {"input_ids": prompt + target, "labels": [IGNORE_INDEX] * len(prompt) + target}
