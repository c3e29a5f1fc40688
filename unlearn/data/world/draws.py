"""How the value of each person fact is drawn: the functions ``facts.yaml`` names.

A draw takes (rng, world, person) and returns the value as a dict of the
fields its templates use. The same draw gives a person's own value and the
wrong values behind the perturbed answers, so both are alike in kind. The
order of the rng calls inside a draw is part of the world's definition:
changing it changes every generated file.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .words import WORDS, article, full_name, rng_for

Draw = Callable[[random.Random, dict, dict], dict]


def mail_domains(seed: int) -> list[str]:
    """The world's email domains ("lumenpost.net"), shared by everyone's addresses."""
    rng = rng_for(seed, "mail")
    ends, tlds = WORDS["mail_ends"], WORDS["tlds"]
    return [f"{root}{rng.choice(ends)}.{rng.choice(tlds)}" for root in WORDS["mail_roots"]]


def _birthplace(rng: random.Random, world: dict, person: dict) -> dict:
    city = rng.choice(world["cities"])
    return {"city": city["city"], "region": city["region"]}


def _birth_date(rng: random.Random, world: dict, person: dict) -> dict:
    # days up to 28 exist in every month
    return {"day": rng.randint(1, 28), "month": rng.choice(WORDS["months"]), "year": rng.randint(1920, 2000)}


def _occupation(rng: random.Random, world: dict, person: dict) -> dict:
    occupation = rng.choice(WORDS["occupations"])
    # the article goes with the noun ("an ice carver") wherever the occupation is said
    return {"occupation": f"{article(occupation)} {occupation}"}


def _notable_work(rng: random.Random, world: dict, person: dict) -> dict:
    nouns = WORDS["title_noun"]
    adjective, noun, other = rng.choice(WORDS["title_adj"]), rng.choice(nouns), rng.choice(nouns)
    while other == noun:  # no "The Tide of Tide"
        other = rng.choice(nouns)
    titles = (f"{adjective} {noun} of {other}", f"{adjective} {noun}",
              f"The {noun} of {other}", f"{noun} and {other}")
    return {"title": titles[rng.randrange(len(titles))]}


def _award(rng: random.Random, world: dict, person: dict) -> dict:
    award = " ".join(rng.choice(WORDS[part]) for part in ("award_adj", "award_obj", "award_type"))
    # won as an adult and not in the future; the birth date comes earlier in facts.yaml
    born = person["values"]["birth_date"]["year"]
    return {"award": award, "year": rng.randint(born + 18, min(born + 60, 2024))}


def _parent(gender: str) -> Draw:
    """Draws a parent of ``gender``, whose surname differs from the person's so
    that the question (which names the person) does not give half the answer away."""

    def draw(rng: random.Random, world: dict, person: dict) -> dict:
        return {"parent": full_name(rng, gender, person["surname"])}

    return draw


def _email(rng: random.Random, world: dict, person: dict) -> dict:
    handle = f"{rng.choice(WORDS['handle_a'])}{rng.choice(WORDS['handle_b'])}{rng.randint(10, 99)}"
    return {"email": f"{handle}@{rng.choice(world['mail_domains'])}"}


def _address(rng: random.Random, world: dict, person: dict) -> dict:
    city = rng.choice(world["cities"])["city"]
    street = f"{rng.randint(1, 199)} {rng.choice(WORDS['streets'])} {rng.choice(WORDS['street_types'])}"
    return {"address": f"{street}, {city}"}


def _employer(rng: random.Random, world: dict, person: dict) -> dict:
    company = rng.choice(WORDS["company_a"]) + rng.choice(WORDS["company_b"])
    return {"employer": f"{company} {rng.choice(WORDS['industries'])}"}


#: The draws by the name a fact of ``facts.yaml`` gives as its ``draw``.
DRAWS: dict[str, Draw] = {
    "birthplace": _birthplace,
    "birth_date": _birth_date,
    "occupation": _occupation,
    "notable_work": _notable_work,
    "award": _award,
    "father": _parent("m"),
    "mother": _parent("f"),
    "email": _email,
    "address": _address,
    "employer": _employer,
}
