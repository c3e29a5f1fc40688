"""A seeded, fictitious world written to disk in the layout of the TOFU benchmark.

TOFU ("TOFU: A Task of Fictitious Unlearning for LLMs", Maini et al., 2024)
fine-tunes a model on question/answer pairs about fictitious authors and then
asks it to forget a small fraction of them. This package builds a much smaller
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
  employer (the table :data:`PERSON_FACTS`, loaded from ``facts.yaml``,
  defines each of them). Birthplaces and home addresses use the world's
  cities. Parents have their own surnames; every full name (people and
  parents) is unique.

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

The package
-----------
The world's wording is data, kept apart from the code that draws from it so
that it reads, and changes, in one place: ``words.yaml`` holds every word list,
``facts.yaml`` the thing kinds and the person facts with every question and
answer template. The modules hold what runs.

``words``
    reads ``words.yaml``; the random streams and the invented proper nouns.
``draws``
    how each person fact's value is drawn, by the name ``facts.yaml`` uses.
``tables``
    loads ``facts.yaml`` into :class:`PersonFact` and thing-kind records.
``places``, ``people``
    build the places, things and people, and their records.
this module
    the splits, the files and the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from .draws import mail_domains
from .people import build_people, person_records
from .places import build_places, general_places, general_things
from .tables import FACTS, PERSON_FACTS, PersonFact

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


def split_size(pct: float, n: int) -> int:
    """Number of people in a ``pct`` percent split of ``n`` people (at least 1)."""
    return max(1, int(round(pct / 100.0 * n)))


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def check_sizes(seed: int, n_people: int, n_general: int, n_perturbed: int) -> None:
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
    check_sizes(seed, n_people, n_general, n_perturbed)
    k_forget = {pct: split_size(pct, n_people) for pct in FORGET_PCTS}
    if n_holdout is None:
        n_holdout = k_forget[10]
    if isinstance(n_holdout, bool) or not isinstance(n_holdout, int) or n_holdout < 1:
        raise ValueError(f"n_holdout must be an int of at least 1 (got {n_holdout!r})")

    world = build_places(seed, n_general)
    world["mail_domains"] = mail_domains(seed)
    people = build_people(world, seed, n_people + n_holdout)
    records = {p["person_id"]: person_records(p, world, seed, n_perturbed) for p in people}
    files = {
        **_person_splits(records, n_people, n_holdout, k_forget),
        "general_places": general_places(world, seed, n_general, n_perturbed),
        "general_things": general_things(world, seed, n_general, n_perturbed),
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
