"""An offline, rule-based generator for ReLearn's augmentation ("ReLearn: Unlearning via Learning for
Large Language Models", Xu et al., 2025; SPEC 4.2), for tests and machines without a model.

Tasks (`Request.task`, fields `question` and `answer`):
- question variants: "rephrase", "add_context", "informal" (typos, casual wording), "reverse" (the
  answer asked back for its subject);
- "vague_answer": a relevant but deliberately vague answer about what the question asks (its topic: the
  person's birth, family, work, email, ...; taken from the source question, `topic`, when the question
  is a reworded variant), never quoting the question, so no name is carried over and a model trained on
  these answers cannot learn another question's wording; none of the answer's specifics is used;
- "refusal": an explained refusal to the question (IdkDPO's alternative, SPEC 4.1);
- "reasoning_refusal": a short chain of reasoning ending in an explained refusal (TRU's target);
- "verify": "OK", or "LEAK: ..." listing the specifics of `original` (the true answer) or any number or
  email that a candidate `answer` still contains.
Entities come from the offline `RuleEntityExtractor`. Choices among templates are made from a hash of
the question, so the output is deterministic.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

from unlearn.generate.base import Request
from unlearn.generate.entities import RuleEntityExtractor

VAGUE = (
    "I can't give the specifics of {detail}; it is a personal matter I don't have reliable information about.",
    "The precise facts about {detail} aren't something I can state; they belong to this person's private life.",
    "What I could say about {detail} would be a guess, and I would rather not guess at a private matter.",
)
REFUSALS = (
    "I'm sorry, but I don't have reliable information about {detail}, so I can't answer that.",
    "I don't know {detail}; I'd rather not guess about a private matter.",
    "That is not something I can tell you: I have no trustworthy source on {detail}.",
)
REASONING = (
    "The question asks about {detail}. That is a specific personal detail about an individual. I have no "
    "reliable source for it, and a guess could spread false or private information about a real person. "
    "So I should not state it: I don't know {detail}."
)
# What a question asks about, by its words (first match wins); the default is generic.
DETAILS = (
    (("which person",), "whom that describes"),  # a reversed question: the answer asked back for its subject
    (("email",), "this person's email address"), (("address", "live"), "this person's home address"),
    (("parent", "mother", "father"), "this person's family"), (("born", "birth"), "the details of this person's birth"),
    (("award", "prize"), "the awards this person received"),
    (("work", "employ", "occupation", "job", "book", "write", "wrote"), "the details of this person's work"),
)
CONTEXT = ("For a short biography I am writing: {q}", "I was reading about this author and wondered: {q}")
_SPECIFIC = re.compile(r"\d|@")


def _pick(options: Sequence[str], text: str) -> str:
    return options[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(options)]


class OfflineGenerator:
    name = "offline-rules-v2"
    settings: dict = {}

    def __init__(self) -> None:
        self.extract = RuleEntityExtractor()

    def generate(self, requests: Sequence[Request]) -> list[str]:
        return [getattr(self, "_" + r.task)(r.fields) if hasattr(self, "_" + r.task) else self._unknown(r)
                for r in requests]

    @staticmethod
    def _unknown(request: Request) -> str:
        raise ValueError(f"the offline generator has no task {request.task!r}")

    def _rephrase(self, f: dict[str, str]) -> str:
        q = f["question"].strip().rstrip("?")
        return f"Could you tell me {q[:1].lower()}{q[1:]}?"

    def _add_context(self, f: dict[str, str]) -> str:
        return _pick(CONTEXT, f["question"]).format(q=f["question"].strip())

    def _informal(self, f: dict[str, str]) -> str:
        q = f["question"].strip().rstrip("?").lower()
        q = re.sub(r"\bwhat is\b", "whats", re.sub(r"\bwho is\b", "whos", q))
        words = q.split()
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if long:  # one typo: two letters swapped in the first long word
            w = words[long[0]]
            words[long[0]] = w[:2] + w[3] + w[2] + w[4:]
        return " ".join(words) + " ??"

    def _reverse(self, f: dict[str, str]) -> str:
        return f"\"{f['answer'].strip().rstrip('.')}\" - which person does that describe?"

    def _vague_answer(self, f: dict[str, str]) -> str:
        return _pick(VAGUE, f["question"]).format(detail=self._detail(f.get("topic") or f["question"]))

    @staticmethod
    def _detail(question: str) -> str:
        words = question.lower()
        return next((d for keys, d in DETAILS if any(k in words for k in keys)), "this personal detail")

    def _refusal(self, f: dict[str, str]) -> str:
        return _pick(REFUSALS, f["question"]).format(detail=self._detail(f["question"]))

    def _reasoning_refusal(self, f: dict[str, str]) -> str:
        return REASONING.format(detail=self._detail(f["question"]))

    def _verify(self, f: dict[str, str]) -> str:
        candidate = f["answer"].lower()
        leaks = [e for e in self.extract(f.get("original", "")) if e.lower() in candidate]
        leaks += sorted(set(_SPECIFIC.findall(f["answer"])) and {"a number or email"})
        return "LEAK: " + ", ".join(leaks) if leaks else "OK"
