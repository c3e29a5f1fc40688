"""The world's vocabulary (``words.yaml``), its random streams and the invented
proper nouns ("Korvath", "Tomas Brenner") built from both."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import yaml


def read_yaml(name: str) -> dict:
    """The mapping in ``name``, a YAML file shipped next to this module."""
    data = yaml.safe_load(Path(__file__).with_name(name).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping of names at the top level")
    return data


class _WordLists(dict):
    """The lists of ``words.yaml`` by name; a missing one is named in the error."""

    def __missing__(self, name: str):
        raise KeyError(f"words.yaml has no word list {name!r}")


def _load_word_lists() -> _WordLists:
    lists = _WordLists()
    for name, words in read_yaml("words.yaml").items():
        # an unquoted "no" or "1" would load as a bool or a number, not as the word
        if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
            raise ValueError(f"words.yaml: {name} must be a non-empty list of strings")
        lists[name] = tuple(words)
    return lists


#: Every word list of ``words.yaml``, by name, each a tuple of strings.
WORDS = _load_word_lists()


def rng_for(seed: int, *tags: object) -> random.Random:
    """An independent, reproducible random stream for (seed, tags)."""
    key = "\x1f".join([str(seed)] + [str(t) for t in tags]).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def _join(a: str, b: str) -> str:
    """Concatenate two word parts, dropping a doubled letter at the join."""
    if a and b and a[-1] == b[0]:
        return a + b[1:]
    return a + b


def _syllable(rng: random.Random, coda: bool = True) -> str:
    onset, vowel = rng.choice(WORDS["onsets"]), rng.choice(WORDS["vowels"])
    return onset + vowel + (rng.choice(WORDS["codas"]) if coda else "")


def word(rng: random.Random, ends: tuple[str, ...], n_syll: tuple[int, int] = (1, 2)) -> str:
    """A capitalised invented word of ``n_syll`` syllables and one of ``ends``."""
    k = rng.randint(*n_syll)
    stem = ""
    for i in range(k):
        stem = _join(stem, _syllable(rng, coda=(i == k - 1)))
    return cap(_join(stem, rng.choice(ends)))


def full_name(rng: random.Random, gender: str, avoid_surname: str | None = None) -> str:
    """A first name of ``gender`` ("f" or "m") and a surname other than ``avoid_surname``."""
    while True:
        last = word(rng, WORDS["surname_ends"], (1, 2))
        if last != avoid_surname:
            first = word(rng, WORDS["female_ends"] if gender == "f" else WORDS["male_ends"])
            return f"{first} {last}"


class UniqueWords:
    """Generates proper nouns that are unique across the whole world."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.taken: set[str] = set()

    def new(self, ends: tuple[str, ...], n_syll: tuple[int, int] = (1, 2)) -> str:
        for _ in range(10000):
            w = word(self.rng, ends, n_syll)
            if 4 <= len(w) <= 12 and w.lower() not in self.taken:
                self.taken.add(w.lower())
                return w
        raise RuntimeError("ran out of unique words")  # pragma: no cover
