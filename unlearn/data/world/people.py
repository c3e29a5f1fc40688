"""The world's people, their facts' values and their question/answer records."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from .tables import PERSON_FACTS, REGISTERS, PersonFact
from .words import cap, full_name, rng_for

#: Draws a search for a new name or a wrong answer may take before it gives up.
_MAX_TRIES = 10000


class Registers:
    """Texts at most one person may have: full names (of people and parents alike,
    so that a name always means one person) and email addresses."""

    def __init__(self, place_words: set[str]):
        self._place_words = place_words
        self._taken: dict[str, set[str]] = {register: set() for register in REGISTERS}

    def _is_free(self, register: str, text: str) -> bool:
        if text in self._taken[register]:
            return False
        # surnames stay clear of the world's invented place and thing words, so no name is ambiguous
        return register != "full name" or text.split()[-1].lower() not in self._place_words

    def take_new(self, register: str, draw: Callable[[], str]) -> str:
        """Draw texts until one is free in ``register``, and take it."""
        for _ in range(_MAX_TRIES):
            text = draw()
            if self._is_free(register, text):
                self._taken[register].add(text)
                return text
        raise RuntimeError(f"ran out of unique {register}s")  # pragma: no cover


def build_people(world: dict, seed: int, n_total: int) -> list[dict]:
    """``n_total`` people, each with a unique name and a value of every fact."""
    rng = rng_for(seed, "people")
    registers = Registers(set(world["words"].taken))
    people = []
    for pid in range(n_total):
        gender = rng.choice("fm")
        name = registers.take_new("full name", partial(full_name, rng, gender))
        person = {"person_id": pid, "name": name, "gender": gender, "surname": name.split()[-1], "values": {}}
        # in table order: a draw may read the facts drawn before it (the award reads the birth year)
        for fact in PERSON_FACTS:
            person["values"][fact.name] = _own_value(fact, rng, world, person, registers)
        people.append(person)
    return people


def _own_value(fact: PersonFact, rng: random.Random, world: dict, person: dict, registers: Registers) -> dict:
    """The person's true value; one that must be unique is redrawn until it is new."""
    if fact.unique_in is None:
        return fact.draw(rng, world, person)
    (field,) = fact.key  # a unique value is a single text
    return {field: registers.take_new(fact.unique_in, lambda: fact.draw(rng, world, person)[field])}


def _wrong_values(fact: PersonFact, person: dict, world: dict, seed: int, n: int) -> list[dict]:
    """``n`` values of ``fact`` that differ from the person's own, and from each other, in the key.

    Each (person, fact) has its own random stream, so the wrong answers of one
    fact do not depend on how many draws the others took.
    """
    rng = rng_for(seed, "perturb", person["person_id"], fact.name)
    seen = {fact.key_of(person["values"][fact.name])}
    wrong: list[dict] = []
    for _ in range(_MAX_TRIES):
        value = fact.draw(rng, world, person)
        if fact.key_of(value) not in seen:
            seen.add(fact.key_of(value))
            wrong.append(value)
            if len(wrong) == n:
                return wrong
    raise RuntimeError(f"could not perturb {fact.name}")  # pragma: no cover


def _render(template: str, fields: dict) -> str:
    """Fill a fact template; ``{Field}`` gives the text of ``{field}`` capitalised."""
    capitalised = {cap(name): cap(str(text)) for name, text in fields.items()}
    return template.format_map({**capitalised, **fields})


def _pronouns(gender: str) -> dict:
    return {"he": "she", "his": "her"} if gender == "f" else {"he": "he", "his": "his"}


def person_records(person: dict, world: dict, seed: int, n_perturbed: int) -> list[dict]:
    """The person's records, one a fact, in the order of PERSON_FACTS."""
    pronouns = _pronouns(person["gender"])
    records = []
    for fact in PERSON_FACTS:
        value = person["values"][fact.name]
        wrong = _wrong_values(fact, person, world, seed, n_perturbed)
        records.append({
            "question": fact.question.format(person=person["name"]),
            "answer": _render(fact.answer, value),
            "paraphrased_question": fact.paraphrased_question.format(person=person["name"]),
            "paraphrased_answer": _render(fact.paraphrased_answer, {**value, **pronouns}),
            # TOFU words its perturbed answers like the paraphrased answer
            "perturbed_answer": [_render(fact.paraphrased_answer, {**w, **pronouns}) for w in wrong],
            "subject": person["name"],
            "fact": fact.name,
            "person_id": person["person_id"],
        })
    return records
