"""The kinds of things and the person facts of ``facts.yaml``, loaded into records.

Loading checks every entry against its record's fields, so that a typo in the
YAML is one error naming the entry rather than a wrong world.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from .draws import DRAWS, Draw
from .words import WORDS, read_yaml

#: The registers (see people.Registers) in which a value can be required to be new.
REGISTERS = ("full name", "email")


@dataclass(frozen=True)
class Trait:
    """One fact about a thing: the attribute, its pool of values, the question."""

    name: str
    values: tuple[str, ...]  #: in facts.yaml, the name of a list of words.yaml
    question: str  #: "{}" is the thing's name


@dataclass(frozen=True)
class ThingKind:
    """What every thing of one kind has: name endings, a home region and traits."""

    name: str
    ends: tuple[str, ...]  #: "glimmer" + "wort" makes a plant's name
    home_question: str
    traits: tuple[Trait, ...]  #: drawn, and pooled for questions, in this order


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
    answer: str  #: short and made of the value's own words (see the package docstring)
    paraphrased_answer: str  #: also the template of every perturbed answer
    draw: Draw  #: ``(rng, world, person) -> value``; in facts.yaml, a name of draws.DRAWS
    key: tuple[str, ...]  #: the value's fields a perturbed answer must change to be wrong
    unique_in: str | None = None  #: register (see REGISTERS) where a person's own value must be new

    def key_of(self, value: dict) -> tuple:
        """What two values of this fact must differ in to be different answers."""
        return tuple(value[field] for field in self.key)


def _list(value: object, where: str) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError(f"facts.yaml: {where} must be a non-empty list, got {value!r}")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in _list(value, where)):
        raise ValueError(f"facts.yaml: {where} must be a list of strings, got {value!r}")
    return tuple(value)


def _checked(entry: object, record: type, what: str) -> dict:
    """``entry`` as a dict with exactly ``record``'s fields (optional ones may be left out)."""
    if not isinstance(entry, dict):
        raise ValueError(f"facts.yaml: {what} {entry!r} is not a mapping of fields")
    where = f"facts.yaml: {what} {entry.get('name', '(no name)')!r}"
    known = [f.name for f in fields(record)]
    unexpected = [k for k in entry if k not in known]
    missing = [f.name for f in fields(record) if f.default is MISSING and f.name not in entry]
    problems = [f"{label} fields {names}" for label, names in (("unexpected", unexpected), ("missing", missing))
                if names]
    if problems:
        raise ValueError(f"{where}: {'; '.join(problems)}")
    for f in fields(record):  # the annotations are strings (from __future__ import annotations)
        if f.type == "str" and not isinstance(entry[f.name], str):
            raise ValueError(f"{where}: {f.name} must be a string, got {entry[f.name]!r}")
    return entry


def _trait(entry: object, kind: str) -> Trait:
    trait = _checked(entry, Trait, f"thing kind {kind!r}, trait")
    if not isinstance(trait["values"], str) or trait["values"] not in WORDS:
        raise ValueError(f"facts.yaml: thing kind {kind!r}, trait {trait['name']!r}: "
                         f"words.yaml has no word list {trait['values']!r}")
    return Trait(**{**trait, "values": WORDS[trait["values"]]})


def _thing_kind(entry: object) -> ThingKind:
    kind = _checked(entry, ThingKind, "thing kind")
    name = kind["name"]
    traits = tuple(_trait(t, name) for t in _list(kind["traits"], f"thing kind {name!r}: traits"))
    return ThingKind(**{**kind, "ends": _strings(kind["ends"], f"thing kind {name!r}: ends"), "traits": traits})


def _person_fact(entry: object) -> PersonFact:
    fact = _checked(entry, PersonFact, "person fact")
    where = f"facts.yaml: person fact {fact['name']!r}"
    if not isinstance(fact["draw"], str) or fact["draw"] not in DRAWS:
        raise ValueError(f"{where}: unknown draw {fact['draw']!r}; draws.py has {', '.join(DRAWS)}")
    key = _strings(fact["key"], f"person fact {fact['name']!r}: key")
    unique_in = fact.get("unique_in")
    # a unique value is taken from its register as a single text
    if unique_in is not None and (unique_in not in REGISTERS or len(key) != 1):
        raise ValueError(f"{where}: unique_in must be one of {list(REGISTERS)}, with a key of one field")
    return PersonFact(**{**fact, "draw": DRAWS[fact["draw"]], "key": key})


def _named_once(records: tuple, what: str) -> tuple:
    names = [r.name for r in records]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"facts.yaml: {what} named twice: {', '.join(twice)}")
    return records


def load_tables(tables: dict) -> tuple[dict[str, ThingKind], tuple[PersonFact, ...]]:
    """The thing kinds by name and the person facts of ``tables`` (facts.yaml, parsed)."""
    if sorted(tables) != ["person_facts", "thing_kinds"]:
        raise ValueError(f"facts.yaml: expected the lists person_facts and thing_kinds, got {sorted(tables)}")
    kinds = tuple(_thing_kind(e) for e in _list(tables["thing_kinds"], "thing_kinds"))
    facts = tuple(_person_fact(e) for e in _list(tables["person_facts"], "person_facts"))
    return {k.name: k for k in _named_once(kinds, "thing kinds")}, _named_once(facts, "person facts")


#: THING_KINDS: things cycle through these kinds in this order. PERSON_FACTS:
#: the ten facts of every person, in the order of each person's records.
THING_KINDS, PERSON_FACTS = load_tables(read_yaml("facts.yaml"))

#: The ten fact kinds, in the order they appear for each person.
FACTS = tuple(fact.name for fact in PERSON_FACTS)
