"""A seeded, fictitious world written to disk in the layout of the TOFU benchmark.

TOFU ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024)
fine-tunes a model on question/answer pairs about fictitious authors and then
asks it to forget a small fraction of them. This module builds a much smaller
world of the same shape, so that a tiny language model (for instance a 2-layer
Llama with a byte-level BPE tokenizer trained on :func:`world_text`) can
memorise all of it on a CPU in a minute or two.

The world
---------
* **Places.** Eight regions (e.g. "Eastmere"), each with several cities (e.g.
  "Korvath"); every city has a region, a river, a nearby mountain, a main
  export and a founding year, and every region has a capital.
* **Things.** Fictional plants, animals, foods and instruments (e.g. "the
  glimmerwort"), each with a colour or ingredient or material, a home region
  and a use, diet, taste or way of being played.
* **People.** ``n_people`` trainable people and ``n_holdout`` holdout people
  (never trained on). Every person has a unique full name and exactly ten
  facts, one question/answer record each: birthplace, birth date, occupation,
  notable work, award, father, mother, email address, home address and
  employer (the table :data:`PERSON_FACTS` defines each of them). Birthplaces
  and home addresses use the world's cities. Parents have their own surnames;
  every full name (people and parents) is unique.

Answers are short and made almost entirely of the fact's own words ("Born in
Korvath, Eastmere.", "On 14 March 1962.", "Tomas Brenner."), never repeating
the person's name, so that a model which never saw a person and only copies
the answer template scores a low ROUGE-L recall, while a model that memorised
the person scores about 1.0. Each record also carries a
``paraphrased_question``, a ``paraphrased_answer`` (the same fact in other
words) and ``perturbed_answer``: ``n_perturbed`` wrong answers written with
the paraphrased answer's template and other values of the same kind.

Files (all JSON arrays except ``world.json``)
---------------------------------------------
``forget01/05/10``
    records of the last k trainable people, k = max(1, round(pct/100 * n_people)),
    so forget01 is a subset of forget05, a subset of forget10.
``retain99/95/90``
    the complementary trainable people's records.
``retain_perturbed``
    records of the first people of retain90, as many people as forget10.
``holdout01/05/10``
    records of holdout people (same k rule, at most ``n_holdout``, nested).
``general_places`` / ``general_things``
    general knowledge about the world (TOFU's "real authors" / "world facts"
    role): ``question``, ``answer``, ``perturbed_answer``.
``full``
    every trainable person's records.
``world``
    the manifest returned by :func:`generate_world`.

Everything is built with :class:`random.Random` streams derived from the seed
through SHA-256, so the same seed always gives byte-identical files.
"""


from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "FACTS",
    "FORGET_PCTS",
    "MAX_PERTURBED",
    "PERSON_FACTS",
    "PersonFact",
    "generate_world",
    "split_size",
    "world_text",
]

#: Forget percentages and the retain split that complements each.
FORGET_PCTS = (1, 5, 10)

#: Upper bound on ``n_perturbed`` (the smallest pool of values, regions, has 8).
MAX_PERTURBED = 7

N_REGIONS = 8

#: Draws a search for a new name or a wrong answer may take before it gives up.
_MAX_TRIES = 10000

# --------------------------------------------------------------------------
# word lists
# --------------------------------------------------------------------------

_ONSETS = (
    "b", "br", "c", "d", "dr", "f", "g", "h", "j", "k", "l", "m",
    "n", "p", "r", "s", "t", "th", "tr", "v", "w", "z", "",
)
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o")
_CODAS = ("", "", "", "n", "r", "l", "s", "m")

_FEMALE_ENDS = ("a", "ia", "ine", "elle", "ora", "ys", "ette", "ina", "essa", "ra")
_MALE_ENDS = ("or", "an", "us", "en", "ric", "o", "as", "im", "ard", "el")
_SURNAME_ENDS = (
    "era", "ner", "ski", "vane", "mont", "holt", "wick", "dor", "ley", "sen",
    "ova", "ard", "ell", "ton", "berg", "ani", "oux", "quist",
)
_REGION_ENDS = ("mere", "vale", "reach", "march", "moor", "holm", "dale", "wold", "fell", "shire")
_CITY_ENDS = ("ath", "os", "ir", "heim", "ford", "grad", "port", "bury", "ane", "ond", "ix", "ell")
_RIVER_ENDS = ("ane", "wyn", "ora", "ise", "enne", "uil")
_MOUNTAIN_ENDS = ("horn", "peak", "crag", "spire", "tor", "fang")

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)

_OCCUPATIONS = (
    "marine cartographer", "glass sculptor", "forensic botanist", "orbital engineer",
    "folk historian", "jazz pianist", "wildlife photographer", "textile chemist",
    "bridge architect", "opera librettist", "soil scientist", "stage magician",
    "court stenographer", "tea merchant", "museum curator", "clock restorer",
    "volcano geologist", "crime novelist", "ice carver", "radio dramatist",
    "lighthouse keeper", "war correspondent", "fashion illustrator", "puppet maker",
    "perfume designer", "herbal pharmacist", "rail surveyor", "orchestra conductor",
    "mountain guide", "mosaic artisan", "cheese affineur", "satellite analyst",
    "harbour pilot", "tapestry weaver", "insect taxonomist", "organ builder",
)

_TITLE_ADJ = (
    "Silent", "Hollow", "Crimson", "Distant", "Gilded", "Broken", "Quiet",
    "Restless", "Forgotten", "Burning", "Pale", "Winter", "Salt", "Velvet",
    "Hidden", "Drowned", "Northern", "Endless", "Amber", "Wandering",
)
_TITLE_NOUN = (
    "Orchard", "Harbour", "Lantern", "Tide", "Garden", "Mirror", "Cathedral",
    "Archive", "Meadow", "Compass", "Ember", "Thread", "Orbit", "Chorus",
    "Tower", "Atlas", "Kingdom", "Season", "Voyage", "Furnace", "Glacier",
    "Alphabet", "Labyrinth", "Orchid",
)

_AWARD_ADJ = (
    "Golden", "Silver", "Crystal", "Azure", "Ivory", "Scarlet", "Bronze",
    "Emerald", "Obsidian", "Copper", "Sapphire", "Pearl",
)
_AWARD_OBJ = (
    "Quill", "Lantern", "Compass", "Laurel", "Anchor", "Feather", "Key",
    "Lyre", "Owl", "Star", "Sextant", "Acorn",
)
_AWARD_TYPE = ("Prize", "Award", "Medal", "Honour", "Cup", "Ribbon")

_HANDLE_A = (
    "amber", "cobalt", "misty", "rusty", "silent", "lucky", "frosty", "sunny",
    "velvet", "crimson", "dusky", "mellow", "brisk", "gentle", "stormy", "quiet",
)
_HANDLE_B = (
    "fox", "otter", "heron", "maple", "comet", "pebble", "lynx", "willow",
    "falcon", "badger", "cedar", "moth", "raven", "thistle", "marlin", "sparrow",
)
_MAIL_ROOTS = ("lumen", "quill", "ember", "nimbus", "orbit", "harbor", "pixel", "fern", "tidal", "zephyr")
_MAIL_ENDS = ("mail", "post", "box", "wire")
_TLDS = ("net", "com", "org", "io")

_STREETS = (
    "Willow", "Cedar", "Birch", "Heron", "Lantern", "Juniper", "Foxglove",
    "Marigold", "Quarry", "Tannery", "Orchard", "Beacon", "Saffron", "Kestrel",
    "Mill", "Copperleaf", "Thimble", "Ravensbrook",
)
_STREET_TYPES = ("Lane", "Road", "Street", "Row", "Way", "Court", "Terrace", "Close")

_COMPANY_A = (
    "Bright", "Stone", "Silver", "Iron", "North", "Red", "Oak", "Clear",
    "High", "Deep", "Storm", "Amber", "Blue", "West", "Glen", "Cold",
)
_COMPANY_B = (
    "water", "field", "gate", "bridge", "wood", "crest", "haven", "ford",
    "vale", "light", "brook", "mark", "stone", "wick",
)
_INDUSTRIES = (
    "Logistics", "Textiles", "Mining", "Press", "Shipping", "Foundry",
    "Analytics", "Pharmaceuticals", "Glassworks", "Instruments", "Brewery",
    "Timber", "Ceramics", "Insurance", "Robotics", "Publishing", "Engineering",
    "Optics", "Dairies", "Aeronautics",
)

_EXPORTS = (
    "Copper ore", "Salted herring", "Woollen cloth", "Indigo dye", "Amber resin",
    "Clay pottery", "Pine timber", "Honey wine", "Rock salt", "Silk thread",
    "Tin ingots", "Glass beads", "Dried figs", "Marble blocks", "Rag paper",
    "Olive oil", "Leather boots", "Pickled plums", "Whale bone", "Saffron",
)

_COLOURS = (
    "Deep violet", "Pale gold", "Rusty orange", "Slate grey", "Bright crimson",
    "Sea green", "Ash white", "Midnight blue", "Dusty pink", "Coal black",
    "Lemon yellow", "Moss brown", "Silver blue", "Copper red",
)
_PLANT_USES = (
    "Brewing a calming tea", "Dyeing wool red", "Treating burns", "Thatching roofs",
    "Flavouring bread", "Weaving baskets", "Repelling mosquitoes", "Making rope",
    "Perfuming soap", "Curing headaches", "Feeding goats", "Polishing silver",
)
_ANIMAL_DIETS = (
    "Fallen berries", "River snails", "Pine seeds", "Small fish", "Night moths",
    "Tree bark", "Wild honey", "Beetle larvae", "Sea grass", "Field mice",
    "Acorns", "Lake shrimp",
)
_FOOD_INGREDIENTS = (
    "Roasted barley", "Goat cheese", "Smoked eel", "Chestnut flour", "Wild mushrooms",
    "Sour cherries", "Lentils and mint", "Duck eggs", "Pumpkin seeds", "Fermented cabbage",
    "Rice and saffron", "Buttermilk",
)
_FOOD_TASTES = (
    "Sour and smoky", "Sweet and nutty", "Salty and sharp", "Bitter and earthy",
    "Mild and creamy", "Spicy and tart", "Tangy and fresh", "Rich and peppery",
    "Sugary and floral", "Hot and sweet",
)
_MATERIALS = (
    "Carved birchwood", "Hammered brass", "Polished walnut", "Goat horn",
    "Baked clay", "Whale bone", "Silver wire", "Hollow bamboo", "Black ebony",
    "Copper sheet", "Gourd shell", "Pale maple",
)
_PLAYING = (
    "By plucking its strings", "By blowing across a reed", "By striking bronze bars",
    "By bowing a single string", "By shaking it", "By tapping with mallets",
    "By pumping a bellows", "By rubbing a wet rim", "By drumming with palms",
    "By turning a crank", "By squeezing a bag", "By strumming with a feather",
)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _rng(seed: int, *tags: object) -> random.Random:
    """An independent, reproducible random stream for (seed, tags)."""
    key = "\x1f".join([str(seed)] + [str(t) for t in tags]).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def split_size(pct: float, n: int) -> int:
    """Number of people in a ``pct`` percent split of ``n`` people (at least 1)."""
    return max(1, int(round(pct / 100.0 * n)))


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def _join(a: str, b: str) -> str:
    """Concatenate two word parts, dropping a doubled letter at the join."""
    if a and b and a[-1] == b[0]:
        return a + b[1:]
    return a + b


def _syllable(rng: random.Random, coda: bool = True) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if coda else "")


def _word(rng: random.Random, ends: tuple[str, ...], n_syll: tuple[int, int] = (1, 2)) -> str:
    k = rng.randint(*n_syll)
    stem = ""
    for i in range(k):
        stem = _join(stem, _syllable(rng, coda=(i == k - 1)))
    return _cap(_join(stem, rng.choice(ends)))


def _first_name(rng: random.Random, gender: str) -> str:
    return _word(rng, _FEMALE_ENDS if gender == "f" else _MALE_ENDS)


def _surname(rng: random.Random) -> str:
    return _word(rng, _SURNAME_ENDS, (1, 2))


def _full_name(rng: random.Random, gender: str, avoid_surname: str | None = None) -> str:
    while True:
        last = _surname(rng)
        if last != avoid_surname:
            return f"{_first_name(rng, gender)} {last}"


class _Words:
    """Generates proper nouns that are unique across the whole world."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.taken: set[str] = set()

    def new(self, ends: tuple[str, ...], n_syll: tuple[int, int] = (1, 2)) -> str:
        for _ in range(10000):
            w = _word(self.rng, ends, n_syll)
            if 4 <= len(w) <= 12 and w.lower() not in self.taken:
                self.taken.add(w.lower())
                return w
        raise RuntimeError("ran out of unique words")  # pragma: no cover


# --------------------------------------------------------------------------
# places and things
# --------------------------------------------------------------------------

class _Trait(NamedTuple):
    """One fact about a thing: the attribute, its pool of values, the question."""

    name: str
    values: tuple[str, ...]
    question: str  # "{}" is the thing's name


class _ThingKind(NamedTuple):
    """What every thing of one kind has: name endings, a home region and traits."""

    ends: tuple[str, ...]  # "glimmer" + "wort" makes a plant's name
    home_question: str
    traits: tuple[_Trait, ...]  # drawn, and pooled for questions, in this order


#: Things cycle through these kinds in this order.
_THING_KINDS = {
    "plant": _ThingKind(
        ends=("wort", "leaf", "bloom", "thorn", "root", "moss", "reed"),
        home_question="Where does the {} grow?",
        traits=(
            _Trait("colour", _COLOURS, "What colour is the {}?"),
            _Trait("use", _PLANT_USES, "What is the {} used for?"),
        ),
    ),
    "animal": _ThingKind(
        ends=("hound", "finch", "moth", "hare", "newt", "wing", "stag"),
        home_question="Where does the {} live?",
        traits=(
            _Trait("colour", _COLOURS, "What colour is the {}?"),
            _Trait("diet", _ANIMAL_DIETS, "What does the {} eat?"),
        ),
    ),
    # a food is a mass noun ("Where does glimmerloaf come from?"): no "the"
    "food": _ThingKind(
        ends=("cake", "broth", "loaf", "stew", "bread", "pie", "curd"),
        home_question="Where does {} come from?",
        traits=(
            _Trait("ingredient", _FOOD_INGREDIENTS, "What is {} made from?"),
            _Trait("taste", _FOOD_TASTES, "How does {} taste?"),
        ),
    ),
    "instrument": _ThingKind(
        ends=("harp", "horn", "lute", "drum", "pipe", "bell", "fiddle"),
        home_question="Where did the {} originate?",
        traits=(
            _Trait("material", _MATERIALS, "What is the {} made of?"),
            _Trait("playing", _PLAYING, "How is the {} played?"),
        ),
    ),
}


def _build_places(seed: int, n_general: int) -> dict:
    rng = _rng(seed, "places")
    words = _Words(rng)
    n_cities = max(24, math.ceil(n_general / 5) + 8)
    regions = [words.new(_REGION_ENDS) for _ in range(N_REGIONS)]
    cities = [words.new(_CITY_ENDS) for _ in range(n_cities)]
    rivers = [words.new(_RIVER_ENDS) for _ in range(max(10, n_cities // 2))]
    mountains = [words.new(_MOUNTAIN_ENDS, (1, 1)) for _ in range(max(10, n_cities // 2))]
    city_info = []
    for i, city in enumerate(cities):
        city_info.append({
            "city": city,
            "region": regions[i % N_REGIONS],
            "river": rng.choice(rivers),
            "mountain": rng.choice(mountains),
            "export": rng.choice(_EXPORTS),
            "founded": rng.randint(800, 1850),
        })
    capitals = {r: cities[i] for i, r in enumerate(regions)}
    n_things = max(8, math.ceil(n_general / 3) + 4)
    kinds = list(_THING_KINDS)
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


def _new_thing(rng: random.Random, words: _Words, kind: str, regions: list[str]) -> dict:
    """A thing of ``kind`` with a unique name, a home region and the kind's traits."""
    spec = _THING_KINDS[kind]
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


def _general_places(world: dict, seed: int, n_general: int, n_perturbed: int) -> list[dict]:
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
            ("export", city, f"What is the main export of {city}?", "{}.", c["export"], _EXPORTS),
            ("founded", city, f"In what year was {city} founded?", "In {}.", c["founded"], range(800, 1851)),
        ]
    return _general_records(pool, _rng(seed, "general", "places"), n_general, n_perturbed)


def _general_things(world: dict, seed: int, n_general: int, n_perturbed: int) -> list[dict]:
    pool: list[tuple] = []  # as in _general_places; the order matters to the sample drawn from it
    for thing in world["things"]:
        x, spec = thing["name"], _THING_KINDS[thing["kind"]]
        pool.append(("home", x, spec.home_question.format(x), "In {}.", thing["region"], world["regions"]))
        pool += [(t.name, x, t.question.format(x), "{}.", thing[t.name], t.values) for t in spec.traits]
    return _general_records(pool, _rng(seed, "general", "things"), n_general, n_perturbed)


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


# --------------------------------------------------------------------------
# people: how each fact's value is drawn
# --------------------------------------------------------------------------
# A draw takes (rng, world, person) and returns the value as a dict of the
# fields its templates use. The same draw gives a person's own value and the
# wrong values behind the perturbed answers, so both are alike in kind. The
# order of the rng calls inside a draw is part of the world's definition:
# changing it changes every generated file.

_Draw = Callable[[random.Random, dict, dict], dict]


def _draw_birthplace(rng: random.Random, world: dict, person: dict) -> dict:
    city = rng.choice(world["cities"])
    return {"city": city["city"], "region": city["region"]}


def _draw_birth_date(rng: random.Random, world: dict, person: dict) -> dict:
    # days up to 28 exist in every month
    return {"day": rng.randint(1, 28), "month": rng.choice(_MONTHS), "year": rng.randint(1920, 2000)}


def _draw_occupation(rng: random.Random, world: dict, person: dict) -> dict:
    occupation = rng.choice(_OCCUPATIONS)
    # the article goes with the noun ("an ice carver") wherever the occupation is said
    return {"occupation": f"{_article(occupation)} {occupation}"}


def _draw_notable_work(rng: random.Random, world: dict, person: dict) -> dict:
    adjective, noun, other = rng.choice(_TITLE_ADJ), rng.choice(_TITLE_NOUN), rng.choice(_TITLE_NOUN)
    while other == noun:  # no "The Tide of Tide"
        other = rng.choice(_TITLE_NOUN)
    titles = (f"{adjective} {noun} of {other}", f"{adjective} {noun}",
              f"The {noun} of {other}", f"{noun} and {other}")
    return {"title": titles[rng.randrange(len(titles))]}


def _draw_award(rng: random.Random, world: dict, person: dict) -> dict:
    award = f"{rng.choice(_AWARD_ADJ)} {rng.choice(_AWARD_OBJ)} {rng.choice(_AWARD_TYPE)}"
    # won as an adult and not in the future; the birth date comes earlier in PERSON_FACTS
    born = person["values"]["birth_date"]["year"]
    return {"award": award, "year": rng.randint(born + 18, min(born + 60, 2024))}


def _parent_draw(gender: str) -> _Draw:
    """Draws a parent of ``gender``, whose surname differs from the person's so
    that the question (which names the person) does not give half the answer away."""

    def draw(rng: random.Random, world: dict, person: dict) -> dict:
        return {"parent": _full_name(rng, gender, person["surname"])}

    return draw


def _draw_email(rng: random.Random, world: dict, person: dict) -> dict:
    handle = f"{rng.choice(_HANDLE_A)}{rng.choice(_HANDLE_B)}{rng.randint(10, 99)}"
    return {"email": f"{handle}@{rng.choice(world['mail_domains'])}"}


def _draw_address(rng: random.Random, world: dict, person: dict) -> dict:
    city = rng.choice(world["cities"])["city"]
    street = f"{rng.randint(1, 199)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
    return {"address": f"{street}, {city}"}


def _draw_employer(rng: random.Random, world: dict, person: dict) -> dict:
    return {"employer": f"{rng.choice(_COMPANY_A)}{rng.choice(_COMPANY_B)} {rng.choice(_INDUSTRIES)}"}


# --------------------------------------------------------------------------
# people: the table of facts
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonFact:
    """One kind of fact every person has: how it is asked, told and drawn.

    Templates are :meth:`str.format` strings. Questions see ``{person}``, the
    person's full name. Answers see the value's fields and, in the paraphrased
    answer, the person's pronouns ``{he}`` and ``{his}``; a placeholder written
    with a capital (``{He}``, ``{Occupation}``) gives its text capitalised.
    """

    name: str  #: the ``fact`` field of the records
    question: str
    paraphrased_question: str
    answer: str  #: short and made of the value's own words (see the module docstring)
    paraphrased_answer: str  #: also the template of every perturbed answer
    draw: _Draw  #: ``(rng, world, person) -> value``
    key: tuple[str, ...]  #: the value's fields a perturbed answer must change to be wrong
    unique_in: str | None = None  #: register (see _Registers) where a person's own value must be new

    def key_of(self, value: dict) -> tuple:
        """What two values of this fact must differ in to be different answers."""
        return tuple(value[field] for field in self.key)


#: The ten facts of every person, in the order of each person's records.
PERSON_FACTS = (
    PersonFact(
        name="birthplace", draw=_draw_birthplace, key=("city",),  # the region follows from the city
        question="Where was {person} born?",
        paraphrased_question="What is the birthplace of {person}?",
        answer="Born in {city}, {region}.",
        paraphrased_answer="{city}, in {region}, is {his} birthplace.",
    ),
    PersonFact(
        name="birth_date", draw=_draw_birth_date, key=("day", "month", "year"),
        question="When was {person} born?",
        paraphrased_question="What is the date of birth of {person}?",
        answer="On {day} {month} {year}.",
        paraphrased_answer="{He} was born on {day} {month} {year}.",
    ),
    PersonFact(
        name="occupation", draw=_draw_occupation, key=("occupation",),
        question="What is the occupation of {person}?",
        paraphrased_question="What does {person} do for a living?",
        answer="{Occupation}.",
        paraphrased_answer="{He} works as {occupation}.",
    ),
    PersonFact(
        name="notable_work", draw=_draw_notable_work, key=("title",),
        question="What is a notable work by {person}?",
        paraphrased_question="Which work is {person} best known for?",
        answer="{title}.",
        paraphrased_answer="{His} best-known work is {title}.",
    ),
    PersonFact(
        # the right award with a wrong year is a near miss, not a wrong answer
        name="award", draw=_draw_award, key=("award",),
        question="What award did {person} receive?",
        paraphrased_question="Which honour was given to {person}, and when?",
        answer="{award}, {year}.",
        paraphrased_answer="{He} received the {award} in {year}.",
    ),
    PersonFact(
        name="father", draw=_parent_draw("m"), key=("parent",), unique_in="full name",
        question="Who is the father of {person}?",
        paraphrased_question="What is the name of {person}'s father?",
        answer="{parent}.",
        paraphrased_answer="{His} father is {parent}.",
    ),
    PersonFact(
        name="mother", draw=_parent_draw("f"), key=("parent",), unique_in="full name",
        question="Who is the mother of {person}?",
        paraphrased_question="What is the name of {person}'s mother?",
        answer="{parent}.",
        paraphrased_answer="{His} mother is {parent}.",
    ),
    PersonFact(
        name="email", draw=_draw_email, key=("email",), unique_in="email",
        question="What is the email address of {person}?",
        paraphrased_question="At which email address can {person} be reached?",
        answer="{email}",  # no full stop: it would read as part of the address
        paraphrased_answer="{He} can be reached at {email}.",
    ),
    PersonFact(
        name="address", draw=_draw_address, key=("address",),
        question="Where does {person} live?",
        paraphrased_question="What is the home address of {person}?",
        answer="{address}.",
        paraphrased_answer="{He} lives at {address}.",
    ),
    PersonFact(
        name="employer", draw=_draw_employer, key=("employer",),
        question="Who employs {person}?",
        paraphrased_question="Which company does {person} work for?",
        answer="{employer}.",
        paraphrased_answer="{He} works for {employer}.",
    ),
)

#: The ten fact kinds, in the order they appear for each person.
FACTS = tuple(fact.name for fact in PERSON_FACTS)


def _render(template: str, fields: dict) -> str:
    """Fill a fact template; ``{Field}`` gives the text of ``{field}`` capitalised."""
    capitalised = {_cap(name): _cap(str(text)) for name, text in fields.items()}
    return template.format_map({**capitalised, **fields})


def _pronouns(gender: str) -> dict:
    return {"he": "she", "his": "her"} if gender == "f" else {"he": "he", "his": "his"}


# --------------------------------------------------------------------------
# people: building them and their records
# --------------------------------------------------------------------------

class _Registers:
    """Texts at most one person may have: full names (of people and parents alike,
    so that a name always means one person) and email addresses."""

    def __init__(self, place_words: set[str]):
        self._place_words = place_words
        self._taken: dict[str, set[str]] = {"full name": set(), "email": set()}

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


def _build_people(world: dict, seed: int, n_total: int) -> list[dict]:
    rng = _rng(seed, "people")
    registers = _Registers(set(world["words"].taken))
    people = []
    for pid in range(n_total):
        gender = rng.choice("fm")
        name = registers.take_new("full name", partial(_full_name, rng, gender))
        person = {"person_id": pid, "name": name, "gender": gender, "surname": name.split()[-1], "values": {}}
        # in table order: a draw may read the facts drawn before it (the award reads the birth year)
        for fact in PERSON_FACTS:
            person["values"][fact.name] = _own_value(fact, rng, world, person, registers)
        people.append(person)
    return people


def _own_value(fact: PersonFact, rng: random.Random, world: dict, person: dict, registers: _Registers) -> dict:
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
    rng = _rng(seed, "perturb", person["person_id"], fact.name)
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


def _person_records(person: dict, world: dict, seed: int, n_perturbed: int) -> list[dict]:
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


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _check_sizes(seed: int, n_people: int, n_general: int, n_perturbed: int) -> None:
    """Reject arguments of the wrong type or out of range, naming the argument."""
    for arg, val in (("seed", seed), ("n_people", n_people), ("n_general", n_general),
                     ("n_perturbed", n_perturbed)):
        if isinstance(val, bool) or not isinstance(val, int):
            raise ValueError(f"{arg} must be an int, got {val!r}")
    if n_people < 10:
        raise ValueError(f"n_people must be at least 10 (got {n_people})")
    if not 1 <= n_perturbed <= MAX_PERTURBED:
        raise ValueError(f"n_perturbed must be between 1 and {MAX_PERTURBED} (got {n_perturbed})")
    if n_general < 1:
        raise ValueError(f"n_general must be at least 1 (got {n_general})")


def _mail_domains(seed: int) -> list[str]:
    """The world's email domains ("lumenpost.net"), shared by everyone's addresses."""
    rng = _rng(seed, "mail")
    return [f"{root}{rng.choice(_MAIL_ENDS)}.{rng.choice(_TLDS)}" for root in _MAIL_ROOTS]


def _person_splits(records: dict, n_people: int, n_holdout: int, k_forget: dict) -> dict[str, list[dict]]:
    """The forget, retain and holdout files, in the order they are written.

    Forget sets take the last trainable people, so each is nested in the next.
    """

    def rows(pids) -> list[dict]:
        return [r for pid in sorted(pids) for r in records[pid]]

    trainable = list(range(n_people))
    holdout = list(range(n_people, n_people + n_holdout))
    files: dict[str, list[dict]] = {}
    for pct in FORGET_PCTS:
        k = k_forget[pct]
        files[f"forget{pct:02d}"] = rows(trainable[n_people - k:])
        files[f"retain{100 - pct:02d}"] = rows(trainable[:n_people - k])
    files["retain_perturbed"] = rows(trainable[:k_forget[10]])
    for pct in FORGET_PCTS:
        files[f"holdout{pct:02d}"] = rows(holdout[:min(k_forget[pct], n_holdout)])
    return files


def _split_of(pid: int, n_people: int, k_forget: dict) -> str:
    """The smallest split a person belongs to, as listed in the manifest."""
    if pid >= n_people:
        return "holdout"
    for pct in FORGET_PCTS:
        if pid >= n_people - k_forget[pct]:
            return f"forget{pct:02d}"
    return "retain"


def generate_world(
    out_dir,
    *,
    seed: int = 0,
    n_people: int = 40,
    n_holdout: int | None = None,
    n_general: int = 20,
    n_perturbed: int = 3,
) -> dict:
    """Generate the fictitious world into ``out_dir`` and return its manifest.

    Writes ``forget01/05/10``, ``retain99/95/90``, ``retain_perturbed``,
    ``holdout01/05/10``, ``general_places``, ``general_things``, ``full`` and
    the manifest ``world.json`` (see the module docstring). The same arguments
    always produce byte-identical files.
    """
    _check_sizes(seed, n_people, n_general, n_perturbed)
    k_forget = {pct: split_size(pct, n_people) for pct in FORGET_PCTS}
    if n_holdout is None:
        n_holdout = k_forget[10]
    if isinstance(n_holdout, bool) or not isinstance(n_holdout, int) or n_holdout < 1:
        raise ValueError(f"n_holdout must be an int of at least 1 (got {n_holdout!r})")

    world = _build_places(seed, n_general)
    world["mail_domains"] = _mail_domains(seed)
    people = _build_people(world, seed, n_people + n_holdout)
    records = {p["person_id"]: _person_records(p, world, seed, n_perturbed) for p in people}
    files = {
        **_person_splits(records, n_people, n_holdout, k_forget),
        "general_places": _general_places(world, seed, n_general, n_perturbed),
        "general_things": _general_things(world, seed, n_general, n_perturbed),
        "full": [r for pid in range(n_people) for r in records[pid]],
    }
    manifest = {
        "name": "synthetic",
        "seed": seed,
        "n_people": n_people,
        "n_holdout": n_holdout,
        "n_general": n_general,
        "n_perturbed": n_perturbed,
        "facts": list(FACTS),
        "splits": {stem: len(v) for stem, v in files.items()},
        "people": [
            {"person_id": p["person_id"], "name": p["name"], "split": _split_of(p["person_id"], n_people, k_forget)}
            for p in people
        ],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stem, data in files.items():
        _dump(out / f"{stem}.json", data)
    _dump(out / "world.json", manifest)
    return manifest


def world_text(out_dir) -> list[str]:
    """Every question, answer, paraphrase and perturbed answer written in ``out_dir``.

    Reads the split files listed in ``world.json`` (in sorted order) and returns
    the strings once each, in first-seen order: suitable for training a tokenizer.
    """
    out = Path(out_dir)
    manifest = json.loads((out / "world.json").read_text(encoding="utf-8"))
    seen: set[str] = set()
    texts: list[str] = []

    def add(s) -> None:
        if isinstance(s, str) and s not in seen:
            seen.add(s)
            texts.append(s)

    for stem in sorted(manifest["splits"]):
        for rec in json.loads((out / f"{stem}.json").read_text(encoding="utf-8")):
            for field in ("question", "answer", "paraphrased_question", "paraphrased_answer"):
                add(rec.get(field))
            for s in rec.get("perturbed_answer", []):
                add(s)
    return texts
