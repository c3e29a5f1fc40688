"""The world's places and things, and the general-knowledge records about them."""

from __future__ import annotations

import math
import random

from .tables import THING_KINDS
from .words import WORDS, UniqueWords, rng_for

N_REGIONS = 8


def build_places(seed: int, n_general: int) -> dict:
    """Regions, cities (with their facts), rivers, mountains and things; ``words`` holds
    every invented word, which people's surnames must stay clear of."""
    rng = rng_for(seed, "places")
    words = UniqueWords(rng)
    n_cities = max(24, math.ceil(n_general / 5) + 8)
    regions = [words.new(WORDS["region_ends"]) for _ in range(N_REGIONS)]
    cities = [words.new(WORDS["city_ends"]) for _ in range(n_cities)]
    rivers = [words.new(WORDS["river_ends"]) for _ in range(max(10, n_cities // 2))]
    mountains = [words.new(WORDS["mountain_ends"], (1, 1)) for _ in range(max(10, n_cities // 2))]
    city_info = []
    for i, city in enumerate(cities):
        city_info.append({
            "city": city,
            "region": regions[i % N_REGIONS],
            "river": rng.choice(rivers),
            "mountain": rng.choice(mountains),
            "export": rng.choice(WORDS["exports"]),
            "founded": rng.randint(800, 1850),
        })
    capitals = {r: cities[i] for i, r in enumerate(regions)}
    n_things = max(8, math.ceil(n_general / 3) + 4)
    kinds = list(THING_KINDS)
    things = [_new_thing(rng, words, kinds[i % len(kinds)], regions) for i in range(n_things)]
    return {
        "words": words,
        "regions": regions,
        "cities": city_info,
        "capitals": capitals,
        "rivers": rivers,
        "mountains": mountains,
        "things": things,
    }


def _new_thing(rng: random.Random, words: UniqueWords, kind: str, regions: list[str]) -> dict:
    """A thing of ``kind`` with a unique name, a home region and the kind's traits."""
    spec = THING_KINDS[kind]
    thing = {"kind": kind, "name": words.new(spec.ends, (1, 2)).lower(), "region": rng.choice(regions)}
    for trait in spec.traits:
        thing[trait.name] = rng.choice(trait.values)
    return thing


def _pick_other(rng: random.Random, pool, true, n: int) -> list:
    """``n`` distinct values from ``pool`` other than ``true`` (in random order)."""
    options = sorted({p for p in pool if p != true}, key=str)
    if len(options) < n:  # pragma: no cover - guarded by MAX_PERTURBED
        raise ValueError(f"only {len(options)} alternatives for {true!r}, need {n}")
    return rng.sample(options, n)


def general_places(world: dict, seed: int, n_general: int, n_perturbed: int) -> list[dict]:
    """``n_general`` records drawn from the questions about regions (capitals) and cities."""
    regions = world["regions"]
    city_names = [c["city"] for c in world["cities"]]
    pool: list[tuple] = []  # (fact, subject, question, fmt, true value, value pool)
    for region, capital in world["capitals"].items():
        pool.append(("capital", region, f"What is the capital of {region}?", "{}.", capital, city_names))
    for c in world["cities"]:
        city = c["city"]
        pool += [
            ("region", city, f"In which region is {city}?", "{}.", c["region"], regions),
            ("river", city, f"Which river flows through {city}?", "The {}.", c["river"], world["rivers"]),
            ("mountain", city, f"Which mountain rises near {city}?", "Mount {}.", c["mountain"], world["mountains"]),
            ("export", city, f"What is the main export of {city}?", "{}.", c["export"], WORDS["exports"]),
            ("founded", city, f"In what year was {city} founded?", "In {}.", c["founded"], range(800, 1851)),
        ]
    return _general_records(pool, rng_for(seed, "general", "places"), n_general, n_perturbed)


def general_things(world: dict, seed: int, n_general: int, n_perturbed: int) -> list[dict]:
    """``n_general`` records about things: their home regions and their kinds' traits."""
    pool: list[tuple] = []  # as in general_places; the order matters to the sample drawn from it
    for thing in world["things"]:
        x, spec = thing["name"], THING_KINDS[thing["kind"]]
        pool.append(("home", x, spec.home_question.format(x), "In {}.", thing["region"], world["regions"]))
        pool += [(t.name, x, t.question.format(x), "{}.", thing[t.name], t.values) for t in spec.traits]
    return _general_records(pool, rng_for(seed, "general", "things"), n_general, n_perturbed)


def _general_records(pool: list[tuple], rng: random.Random, n: int, n_perturbed: int) -> list[dict]:
    chosen = rng.sample(pool, min(n, len(pool)))
    out = []
    for fact, subject, question, fmt, true, values in chosen:
        wrong = _pick_other(rng, values, true, n_perturbed)
        out.append({
            "question": question,
            "answer": fmt.format(true),
            "perturbed_answer": [fmt.format(w) for w in wrong],
            "subject": subject,
            "fact": fact,
        })
    out.sort(key=lambda r: (r["fact"], r["subject"]))
    return out
