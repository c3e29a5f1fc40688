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
  employer. Birthplaces and home addresses use the world's cities. Parents
  have their own surnames; every full name (people and parents) is unique.

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
from pathlib import Path

__all__ = [
    "FACTS",
    "FORGET_PCTS",
    "MAX_PERTURBED",
    "generate_world",
    "split_size",
    "world_text",
]

#: The ten fact kinds, in the order they appear for each person.
FACTS = (
    "birthplace",
    "birth_date",
    "occupation",
    "notable_work",
    "award",
    "father",
    "mother",
    "email",
    "address",
    "employer",
)

#: Forget percentages and the retain split that complements each.
FORGET_PCTS = (1, 5, 10)

#: Upper bound on ``n_perturbed`` (the smallest pool of values, regions, has 8).
MAX_PERTURBED = 7

N_REGIONS = 8

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

_THING_KINDS = {
    "plant": ("wort", "leaf", "bloom", "thorn", "root", "moss", "reed"),
    "animal": ("hound", "finch", "moth", "hare", "newt", "wing", "stag"),
    "food": ("cake", "broth", "loaf", "stew", "bread", "pie", "curd"),
    "instrument": ("harp", "horn", "lute", "drum", "pipe", "bell", "fiddle"),
}

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
    things = []
    n_things = max(8, math.ceil(n_general / 3) + 4)
    kinds = list(_THING_KINDS)
    for i in range(n_things):
        kind = kinds[i % len(kinds)]
        name = words.new(_THING_KINDS[kind], (1, 2)).lower()
        t = {"kind": kind, "name": name, "region": rng.choice(regions)}
        if kind == "plant":
            t.update(colour=rng.choice(_COLOURS), use=rng.choice(_PLANT_USES))
        elif kind == "animal":
            t.update(colour=rng.choice(_COLOURS), diet=rng.choice(_ANIMAL_DIETS))
        elif kind == "food":
            t.update(ingredient=rng.choice(_FOOD_INGREDIENTS), taste=rng.choice(_FOOD_TASTES))
        else:
            t.update(material=rng.choice(_MATERIALS), playing=rng.choice(_PLAYING))
        things.append(t)
    return {
        "words": words,
        "regions": regions,
        "cities": city_info,
        "capitals": capitals,
        "rivers": rivers,
        "mountains": mountains,
        "things": things,
    }


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
    regions = world["regions"]
    where = {
        "plant": "Where does the {} grow?",
        "animal": "Where does the {} live?",
        "food": "Where does {} come from?",
        "instrument": "Where did the {} originate?",
    }
    pool: list[tuple] = []
    for t in world["things"]:
        x, kind = t["name"], t["kind"]
        pool.append(("home", x, where[kind].format(x), "In {}.", t["region"], regions))
        if kind in ("plant", "animal"):
            pool.append(("colour", x, f"What colour is the {x}?", "{}.", t["colour"], _COLOURS))
        if kind == "plant":
            pool.append(("use", x, f"What is the {x} used for?", "{}.", t["use"], _PLANT_USES))
        elif kind == "animal":
            pool.append(("diet", x, f"What does the {x} eat?", "{}.", t["diet"], _ANIMAL_DIETS))
        elif kind == "food":
            pool.append(("ingredient", x, f"What is {x} made from?", "{}.", t["ingredient"], _FOOD_INGREDIENTS))
            pool.append(("taste", x, f"How does {x} taste?", "{}.", t["taste"], _FOOD_TASTES))
        else:
            pool.append(("material", x, f"What is the {x} made of?", "{}.", t["material"], _MATERIALS))
            pool.append(("playing", x, f"How is the {x} played?", "{}.", t["playing"], _PLAYING))
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
# people
# --------------------------------------------------------------------------

def _sample_value(fact: str, rng: random.Random, world: dict, person: dict) -> dict:
    """A random value of kind ``fact``; ``person`` supplies context (birth year, gender)."""
    if fact == "birthplace":
        c = rng.choice(world["cities"])
        return {"city": c["city"], "region": c["region"]}
    if fact == "birth_date":
        return {"day": rng.randint(1, 28), "month": rng.choice(_MONTHS), "year": rng.randint(1920, 2000)}
    if fact == "occupation":
        return {"occupation": rng.choice(_OCCUPATIONS)}
    if fact == "notable_work":
        a, n1, n2 = rng.choice(_TITLE_ADJ), rng.choice(_TITLE_NOUN), rng.choice(_TITLE_NOUN)
        while n2 == n1:
            n2 = rng.choice(_TITLE_NOUN)
        pattern = rng.randrange(4)
        title = (f"{a} {n1} of {n2}", f"{a} {n1}", f"The {n1} of {n2}", f"{n1} and {n2}")[pattern]
        return {"title": title}
    if fact == "award":
        name = f"{rng.choice(_AWARD_ADJ)} {rng.choice(_AWARD_OBJ)} {rng.choice(_AWARD_TYPE)}"
        by = person["birth_year"]
        return {"award": name, "year": rng.randint(by + 18, min(by + 60, 2024))}
    if fact in ("father", "mother"):
        return {"name": _full_name(rng, "m" if fact == "father" else "f", person.get("surname"))}
    if fact == "email":
        handle = f"{rng.choice(_HANDLE_A)}{rng.choice(_HANDLE_B)}{rng.randint(10, 99)}"
        return {"email": f"{handle}@{rng.choice(world['mail_domains'])}"}
    if fact == "address":
        c = rng.choice(world["cities"])["city"]
        street = f"{rng.randint(1, 199)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
        return {"address": f"{street}, {c}"}
    if fact == "employer":
        return {"employer": f"{rng.choice(_COMPANY_A)}{rng.choice(_COMPANY_B)} {rng.choice(_INDUSTRIES)}"}
    raise KeyError(fact)  # pragma: no cover


def _key(fact: str, v: dict):
    """The part of a value that must differ for a perturbed answer to be wrong."""
    if fact == "birthplace":
        return v["city"]
    if fact == "birth_date":
        return (v["day"], v["month"], v["year"])
    if fact == "award":
        return v["award"]
    return next(iter(v.values()))


def _questions(fact: str, name: str) -> tuple[str, str]:
    return {
        "birthplace": (f"Where was {name} born?", f"What is the birthplace of {name}?"),
        "birth_date": (f"When was {name} born?", f"What is the date of birth of {name}?"),
        "occupation": (f"What is the occupation of {name}?", f"What does {name} do for a living?"),
        "notable_work": (f"What is a notable work by {name}?", f"Which work is {name} best known for?"),
        "award": (f"What award did {name} receive?", f"Which honour was given to {name}, and when?"),
        "father": (f"Who is the father of {name}?", f"What is the name of {name}'s father?"),
        "mother": (f"Who is the mother of {name}?", f"What is the name of {name}'s mother?"),
        "email": (f"What is the email address of {name}?", f"At which email address can {name} be reached?"),
        "address": (f"Where does {name} live?", f"What is the home address of {name}?"),
        "employer": (f"Who employs {name}?", f"Which company does {name} work for?"),
    }[fact]


def _answer(fact: str, v: dict) -> str:
    if fact == "birthplace":
        return f"Born in {v['city']}, {v['region']}."
    if fact == "birth_date":
        return f"On {v['day']} {v['month']} {v['year']}."
    if fact == "occupation":
        occ = v["occupation"]
        return f"{_cap(_article(occ))} {occ}."
    if fact == "notable_work":
        return f"{v['title']}."
    if fact == "award":
        return f"{v['award']}, {v['year']}."
    if fact in ("father", "mother"):
        return f"{v['name']}."
    if fact == "email":
        return v["email"]
    return f"{next(iter(v.values()))}."


def _paraphrase(fact: str, v: dict, gender: str) -> str:
    he, his = ("She", "Her") if gender == "f" else ("He", "His")
    if fact == "birthplace":
        return f"{v['city']}, in {v['region']}, is {his.lower()} birthplace."
    if fact == "birth_date":
        return f"{he} was born on {v['day']} {v['month']} {v['year']}."
    if fact == "occupation":
        occ = v["occupation"]
        return f"{he} works as {_article(occ)} {occ}."
    if fact == "notable_work":
        return f"{his} best-known work is {v['title']}."
    if fact == "award":
        return f"{he} received the {v['award']} in {v['year']}."
    if fact == "father":
        return f"{his} father is {v['name']}."
    if fact == "mother":
        return f"{his} mother is {v['name']}."
    if fact == "email":
        return f"{he} can be reached at {v['email']}."
    if fact == "address":
        return f"{he} lives at {v['address']}."
    if fact == "employer":
        return f"{he} works for {v['employer']}."
    raise KeyError(fact)  # pragma: no cover


def _build_people(world: dict, seed: int, n_total: int) -> list[dict]:
    rng = _rng(seed, "people")
    words: _Words = world["words"]
    place_words = set(words.taken)
    full_names: set[str] = set()
    emails: set[str] = set()

    def unique_name(gender: str, avoid: str | None = None) -> str:
        for _ in range(10000):
            name = _full_name(rng, gender, avoid)
            last = name.split()[-1].lower()
            if name not in full_names and last not in place_words:
                full_names.add(name)
                return name
        raise RuntimeError("ran out of unique names")  # pragma: no cover

    people = []
    for pid in range(n_total):
        gender = rng.choice("fm")
        name = unique_name(gender)
        person = {"person_id": pid, "name": name, "gender": gender, "surname": name.split()[-1]}
        values: dict[str, dict] = {}
        for fact in FACTS:
            if fact == "father":
                v = {"name": unique_name("m", person["surname"])}
            elif fact == "mother":
                v = {"name": unique_name("f", person["surname"])}
            elif fact == "email":
                while True:
                    v = _sample_value(fact, rng, world, person)
                    if v["email"] not in emails:
                        emails.add(v["email"])
                        break
            else:
                v = _sample_value(fact, rng, world, person)
            if fact == "birth_date":
                person["birth_year"] = v["year"]
            values[fact] = v
        person["values"] = values
        people.append(person)
    return people


def _person_records(person: dict, world: dict, seed: int, n_perturbed: int) -> list[dict]:
    records = []
    for fact in FACTS:
        v = person["values"][fact]
        rng = _rng(seed, "perturb", person["person_id"], fact)
        seen = {_key(fact, v)}
        wrong = []
        for _ in range(10000):
            if len(wrong) == n_perturbed:
                break
            w = _sample_value(fact, rng, world, person)
            k = _key(fact, w)
            if k not in seen:
                seen.add(k)
                wrong.append(w)
        else:  # pragma: no cover
            raise RuntimeError(f"could not perturb {fact}")
        q, pq = _questions(fact, person["name"])
        records.append({
            "question": q,
            "answer": _answer(fact, v),
            "paraphrased_question": pq,
            "paraphrased_answer": _paraphrase(fact, v, person["gender"]),
            "perturbed_answer": [_paraphrase(fact, w, person["gender"]) for w in wrong],
            "subject": person["name"],
            "fact": fact,
            "person_id": person["person_id"],
        })
    return records


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


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
    k_forget = {pct: split_size(pct, n_people) for pct in FORGET_PCTS}
    if n_holdout is None:
        n_holdout = k_forget[10]
    if isinstance(n_holdout, bool) or not isinstance(n_holdout, int) or n_holdout < 1:
        raise ValueError(f"n_holdout must be an int of at least 1 (got {n_holdout!r})")

    world = _build_places(seed, n_general)
    mrng = _rng(seed, "mail")
    world["mail_domains"] = [f"{r}{mrng.choice(_MAIL_ENDS)}.{mrng.choice(_TLDS)}" for r in _MAIL_ROOTS]
    people = _build_people(world, seed, n_people + n_holdout)
    recs = {p["person_id"]: _person_records(p, world, seed, n_perturbed) for p in people}

    def rows(pids) -> list[dict]:
        return [r for pid in sorted(pids) for r in recs[pid]]

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
    files["general_places"] = _general_places(world, seed, n_general, n_perturbed)
    files["general_things"] = _general_things(world, seed, n_general, n_perturbed)
    files["full"] = rows(trainable)

    def split_of(pid: int) -> str:
        if pid >= n_people:
            return "holdout"
        for pct in FORGET_PCTS:
            if pid >= n_people - k_forget[pct]:
                return f"forget{pct:02d}"
        return "retain"

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
            {"person_id": p["person_id"], "name": p["name"], "split": split_of(p["person_id"])}
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
