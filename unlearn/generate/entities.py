"""Entity extraction for ReLearn's entity score (SPEC 5.4).

"ReLearn: Unlearning via Learning for Large Language Models" (Xu et al., 2025), section 4: the
Knowledge Forgetting / Retention Rates compare the entities of a generated answer with those of the
reference answer. The authors extract entities with an LLM (names, emails, places, dates,
organisations, ...). Two extractors behind one protocol:

- :class:`RuleEntityExtractor`: offline and deterministic. Emails, dates, numbers, and runs of
  capitalised words (names; places when the run follows "in", "at", "from", ...); with
  ``core_words=True`` (KFR/KRR) also the lower-case content words ("engineer", "unemployed"), standing
  in for the "core nouns" the authors' LLM prompt asks for: every word of three letters or more that is
  not a stop word (scikit-learn's English list and the words below), a common verb or a generic noun.
  It has no part-of-speech tagger, so adjectives count too; its scores approximate the paper's.
- :class:`LLMEntityExtractor`: wraps any ``generate(prompt) -> str`` callable and parses the list the
  model answers with.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Protocol, runtime_checkable

from unlearn.core.errors import ConfigError


@runtime_checkable
class EntityExtractor(Protocol):
    """Anything that turns a text into a list of entity strings."""

    def __call__(self, text: str) -> list[str]: ...


_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b"  # 1999-03-12
    r"|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"  # 12/03/1999, 12.03.99
    rf"|\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?)?(?:{_MONTHS})\b\.?"  # 5 March / 5th of March
    r"(?:\s+\d{1,2}(?:st|nd|rd|th)?\b)?(?:,?\s+\d{4}\b)?"  # March 5, 1980 / March 1980
    r"|\b(?:1[5-9]\d{2}|20\d{2})s?\b"  # a bare year (1500-2099) or decade
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?:%)?(?![\w@])")
_CAP_WORD = r"(?:(?:St|Dr|Mr|Mrs|Ms|Mt|Jr|Sr|Prof)\.|[A-Z][\w'’-]*)"  # "St. Mary's" stays one run
_CAP_RUN = re.compile(rf"\b{_CAP_WORD}(?:\s+{_CAP_WORD})*")
_PLACE_CUES = {"in", "at", "from", "near", "to", "of"}

# Capitalised words that are not names on their own: function words, pronouns and frequent sentence
# openers. A run loses these from its start (so "In Paris" gives "Paris", "The" gives nothing).
_COMMON = set(
    """
    a an the this that these those there here it its he she they we you i his her hers their theirs our
    your my me him them us who whom whose which what when where why how whether if in at on from to of
    for by with without about after before during since until while as and or but nor so yet also
    although though because however moreover furthermore therefore thus then still yes no not never
    always often sometimes many some most more much all any each every both either neither one another
    other such only just even is are was were be been being has have had do does did can could will
    would shall should may might must born known called named according despite among between into
    over under upon within through throughout via unlike like overall additionally finally first
    second third last next today yesterday tomorrow dear mr mrs ms dr sir madam
    """.split()
)


def _dedupe(items: list[str]) -> list[str]:
    """Unique items, first spelling kept, compared case-insensitively."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


_CORE_WORD = re.compile(r"\b[a-z][a-z'’-]*[a-z]\b")
# Common verbs (every form) and generic nouns that carry no fact: ReLearn's prompt leaves them out.
_NOT_CORE = set(
    """
    write writes wrote written writing make makes made making use uses used using become becomes became
    becoming get gets got gotten give gives gave given take takes took taken know knows knew known
    include includes included including receive receives received receiving feature features featured
    featuring explore explores explored exploring reflect reflects reflected reflecting show shows showed
    shown showing find finds found say says said tell tells told see sees saw seen seem seems seemed
    appear appears appeared go goes went gone come comes came keep keeps kept play plays played
    hold holds held bring brings brought born based called named considered regarded recognized
    recognised noted significant various several notable particular particularly certain specific
    specifically unique distinct different lot lots kind kinds type types way ways thing things part
    parts aspect aspects example examples fact facts information detail details answer question
    person people name names year years time times
    """.split()
)


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _COMMON | _NOT_CORE


class RuleEntityExtractor:
    """Offline rule-based extractor (deterministic; no model, no network). ``core_words``: also the
    lower-case content words (module docstring), as KFR/KRR need."""

    def __init__(self, core_words: bool = False):
        self.core_words = core_words
        self._stop = _stop_words() if core_words else frozenset()

    def typed(self, text: str) -> list[tuple[str, str]]:
        """Entities with their kind, in order of kind then position:
        ("email" | "date" | "number" | "place" | "name", text)."""
        found: list[tuple[str, str]] = []
        masked = text
        for kind, pattern in (("email", _EMAIL), ("date", _DATE)):
            for match in pattern.finditer(masked):
                found.append((kind, match.group().strip().rstrip(".,")))
            # blank the span (same length) so later patterns cannot match inside it
            masked = pattern.sub(lambda m: " " * len(m.group()), masked)
        found += self._capitalised(masked)
        found += [("number", m.group()) for m in _NUMBER.finditer(masked)]
        if self.core_words:
            words = (re.sub(r"['’]s$", "", w).strip("'’-") for w in _CORE_WORD.findall(masked))
            found += [("word", w) for w in words if len(w) >= 3 and w not in self._stop]
        unique = _dedupe([value for _, value in found])
        kinds = {value.casefold(): kind for kind, value in reversed(found)}
        return [(kinds[value.casefold()], value) for value in unique]

    def __call__(self, text: str) -> list[str]:
        return [value for _, value in self.typed(text)]

    @staticmethod
    def _capitalised(text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        last_place_end = -1
        for match in _CAP_RUN.finditer(text):
            words = match.group().split()
            while words and words[0].casefold().strip("'’.") in _COMMON:
                words = words[1:]
            if not words or (len(words) == 1 and _sentence_initial(text, match.start()) and _looks_common(words[0])):
                continue
            previous = text[: match.start()].split()
            cue = previous[-1].casefold() if previous else ""
            led_by_cue = match.group().split()[0].casefold() in _PLACE_CUES  # "In Paris"
            after_place = text[last_place_end : match.start()].strip() == "," if last_place_end >= 0 else False
            kind = "place" if (cue in _PLACE_CUES or led_by_cue or after_place) else "name"  # "Santiago, Chile"
            last_place_end = match.end() if kind == "place" else -1
            out.append((kind, " ".join(words).rstrip("'’")))
        return out


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?:;\n\"'("


def _looks_common(word: str) -> bool:
    """A capitalised word that is probably an ordinary word at a sentence start ("Written", "Growing",
    "Additionally"): a heuristic; names ending so (e.g. "Reading") are lost when they open a sentence."""
    return word.casefold().endswith(("ed", "ing", "ly", "ion", "ness", "ment"))


def parse_entity_list(response: str) -> list[str]:
    """Parse an LLM's list of entities: a JSON list, comma- or semicolon-separated values, or one
    entity per line (bullets and numbering removed). "None" / empty gives []."""
    text = response.strip()
    bracketed = re.search(r"\[.*\]", text, flags=re.S)
    if bracketed:
        try:
            values = json.loads(bracketed.group())
            if isinstance(values, list):
                return _dedupe([_clean(str(v)) for v in values if _clean(str(v))])
        except json.JSONDecodeError:
            pass
    text = re.sub(r"^[^:\n]{0,40}entities[^:\n]{0,20}:", "", text, flags=re.I)  # "Entities:" prefix
    values = [_clean(part) for part in re.split(r"[,;\n]", text)]
    values = [v for v in values if v and v.casefold() not in {"none", "n/a", "no entities"}]
    return _dedupe(values)


def _clean(value: str) -> str:
    value = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", value)  # bullets, "1." numbering
    return value.strip(" \t\n\\/\"'`.")


_LLM_PROMPT = (
    "List the key entities in the text below: names of people, email addresses, places, dates, "
    "organisations, events, numbers and technical terms. For a multi-word phrase give its core word "
    "only. Leave out common words and generic nouns.{question_note}\n"
    "Answer with the entities separated by commas and nothing else.\n\nText: {text}"
)


class LLMEntityExtractor:
    """Entity extraction by a language model, as in ReLearn's evaluation (Xu et al., 2025).

    ``generate`` is any callable prompt -> text (a local pipeline, an API client). ``prompt`` may
    replace the default instruction; it must contain ``{text}`` (and may contain ``{question_note}``).
    """

    def __init__(self, generate: Callable[[str], str], prompt: str | None = None):
        if not callable(generate):
            raise ConfigError("LLMEntityExtractor needs a callable generate(prompt) -> str; pass a function")
        self.generate = generate
        self.prompt = prompt or _LLM_PROMPT
        if "{text}" not in self.prompt:
            raise ConfigError("LLMEntityExtractor prompt lacks the {text} placeholder; add it where the answer goes")

    def __call__(self, text: str, question: str = "") -> list[str]:
        note = f" Leave out entities already in this question: {question}" if question else ""
        response = self.generate(self.prompt.replace("{question_note}", note).replace("{text}", text))
        if not isinstance(response, str):
            raise ConfigError(
                f"entity extractor's generate returned {type(response).__name__}, not str; "
                "make it return the model's text"
            )
        return parse_entity_list(response)
