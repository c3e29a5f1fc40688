"""Tests for the synthetic TOFU-style world generator (unlearn.data.world)."""

import copy
import hashlib
import json
import random
import re

import pytest

from unlearn.data.world import FACTS, PERSON_FACTS, generate_world, split_size, world_text
from unlearn.data.world.tables import THING_KINDS, load_tables
from unlearn.data.world.words import WORDS, read_yaml

PERSON_FIELDS = (
    "question", "answer", "paraphrased_question", "paraphrased_answer",
    "perturbed_answer", "subject", "fact", "person_id",
)
GENERAL_FIELDS = ("question", "answer", "perturbed_answer")
PERSON_FILES = (
    "forget01", "forget05", "forget10", "retain99", "retain95", "retain90",
    "retain_perturbed", "holdout01", "holdout05", "holdout10", "full",
)
GENERAL_FILES = ("general_places", "general_things")
PAIRS = (("forget01", "retain99"), ("forget05", "retain95"), ("forget10", "retain90"))


def _load(d, stem):
    return json.loads((d / f"{stem}.json").read_text(encoding="utf-8"))


def _pids(records):
    return {r["person_id"] for r in records}


def _keys(records):
    return [(r["person_id"], r["fact"]) for r in records]


def _tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    manifest = generate_world(d, seed=0, n_people=40)
    data = {stem: _load(d, stem) for stem in PERSON_FILES + GENERAL_FILES}
    return d, manifest, data


def test_determinism(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ma = generate_world(a, seed=3, n_people=20)
    mb = generate_world(b, seed=3, n_people=20)
    generate_world(c, seed=4, n_people=20)
    assert ma == mb
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "full.json").read_bytes() != (c / "full.json").read_bytes()
    assert (a / "general_places.json").read_bytes() != (c / "general_places.json").read_bytes()


def test_files_and_manifest(world):
    d, manifest, data = world
    on_disk = {p.stem for p in d.iterdir()}
    assert on_disk == set(PERSON_FILES) | set(GENERAL_FILES) | {"world"}
    assert json.loads((d / "world.json").read_text(encoding="utf-8")) == manifest
    assert manifest["name"] == "synthetic"
    assert (manifest["seed"], manifest["n_people"], manifest["n_perturbed"]) == (0, 40, 3)
    assert manifest["n_holdout"] == split_size(10, 40) == 4
    assert manifest["splits"] == {stem: len(rows) for stem, rows in data.items()}
    assert len(data["general_places"]) == len(data["general_things"]) == manifest["n_general"] == 20
    for p in d.glob("*.json"):
        text = p.read_text(encoding="utf-8")
        assert text.endswith("\n")
        assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n"
        if p.stem != "world":
            assert isinstance(json.loads(text), list)


def test_record_fields(world):
    _, manifest, data = world
    for stem in PERSON_FILES:
        for r in data[stem]:
            assert set(PERSON_FIELDS) <= set(r), (stem, r)
            for f in PERSON_FIELDS[:4] + ("subject", "fact"):
                assert isinstance(r[f], str) and r[f].strip()
            assert isinstance(r["person_id"], int)
            assert len(r["perturbed_answer"]) == manifest["n_perturbed"]
    for stem in GENERAL_FILES:
        for r in data[stem]:
            assert set(GENERAL_FIELDS) <= set(r)
            assert isinstance(r["question"], str) and isinstance(r["answer"], str)
            assert len(r["perturbed_answer"]) == manifest["n_perturbed"]


def test_ten_facts_per_person(world):
    _, manifest, data = world
    by_person = {}
    for r in data["full"] + data["holdout10"]:
        by_person.setdefault(r["person_id"], []).append(r)
    assert len(by_person) == manifest["n_people"] + manifest["n_holdout"]
    for pid, recs in by_person.items():
        assert [r["fact"] for r in recs] == list(FACTS)
        name = recs[0]["subject"]
        assert all(r["subject"] == name for r in recs)
        for r in recs:
            assert name in r["question"] and name in r["paraphrased_question"]
            assert r["question"] != r["paraphrased_question"]
            assert name not in r["answer"]
            assert len(r["answer"].split()) <= 12
            assert r["answer"] != r["paraphrased_answer"]


def _fields(template, text):
    """The texts that fill ``template``'s placeholders in ``text``, by lower-case name."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p.lower()}>.+?)" for i, p in enumerate(parts))
    m = re.fullmatch(pattern, text)
    assert m, (template, text)
    return {k: v[:1].lower() + v[1:] for k, v in m.groupdict().items()}


def test_every_fact_type_produces_its_records(world):
    """Each row of PERSON_FACTS asks its own questions of every person and tells
    one value in both answers; every perturbed answer changes the value's key."""
    _, manifest, data = world
    everyone = data["full"] + data["holdout10"]
    assert FACTS == tuple(f.name for f in PERSON_FACTS)
    for fact in PERSON_FACTS:
        recs = [r for r in everyone if r["fact"] == fact.name]
        assert sorted(r["person_id"] for r in recs) == [p["person_id"] for p in manifest["people"]]
        for r in recs:
            assert r["question"] == fact.question.format(person=r["subject"])
            assert r["paraphrased_question"] == fact.paraphrased_question.format(person=r["subject"])
            told = _fields(fact.answer, r["answer"])
            retold = _fields(fact.paraphrased_answer, r["paraphrased_answer"])
            assert told.items() <= retold.items(), (told, retold)
            key = [retold[k] for k in fact.key]
            for wrong in r["perturbed_answer"]:
                assert [_fields(fact.paraphrased_answer, wrong)[k] for k in fact.key] != key, wrong


def test_award_won_as_an_adult(world):
    """The award's draw reads the birth year drawn before it, for wrong answers too."""
    _, _, data = world
    by_fact = {(r["person_id"], r["fact"]): r for r in data["full"] + data["holdout10"]}
    award = next(f for f in PERSON_FACTS if f.name == "award")
    for (pid, fact), r in by_fact.items():
        if fact != "award":
            continue
        born = int(by_fact[pid, "birth_date"]["answer"].rstrip(".").split()[-1])
        for text in [r["paraphrased_answer"], *r["perturbed_answer"]]:
            year = int(_fields(award.paraphrased_answer, text)["year"])
            assert born + 18 <= year <= min(born + 60, 2024), (born, text)


def test_forget_nesting_and_retain_complement(world):
    _, manifest, data = world
    n = manifest["n_people"]
    f01, f05, f10 = (_pids(data[s]) for s in ("forget01", "forget05", "forget10"))
    assert f01 <= f05 <= f10
    assert len(f01) < len(f10)
    full_keys = _keys(data["full"])
    assert len(full_keys) == len(set(full_keys)) == 10 * n
    for forget, retain in PAIRS:
        pct = int(forget[-2:])
        fk, rk = _keys(data[forget]), _keys(data[retain])
        assert not set(fk) & set(rk)
        assert sorted(fk + rk) == sorted(full_keys)
        assert _pids(data[forget]) == set(range(n - split_size(pct, n), n))


def test_holdout_isolated(world):
    _, manifest, data = world
    h01, h05, h10 = (_pids(data[s]) for s in ("holdout01", "holdout05", "holdout10"))
    assert h01 <= h05 <= h10
    assert len(h10) == manifest["n_holdout"]
    assert len(h01) == len(_pids(data["forget01"]))
    trainable = set()
    for stem in ("full", "retain90", "retain99", "forget10", "retain_perturbed"):
        trainable |= _pids(data[stem])
    assert not h10 & trainable
    assert trainable == set(range(manifest["n_people"]))
    subjects = {r["subject"] for r in data["full"]}
    assert not {r["subject"] for r in data["holdout10"]} & subjects


def test_manifest_people_splits(world):
    _, manifest, data = world
    people = {p["person_id"]: p for p in manifest["people"]}
    assert len(people) == manifest["n_people"] + manifest["n_holdout"]
    for pid, p in people.items():
        smallest = next((s for s in ("forget01", "forget05", "forget10")
                         if pid in _pids(data[s])), None)
        if pid in _pids(data["holdout10"]):
            assert p["split"] == "holdout"
        else:
            assert p["split"] == (smallest or "retain")


def test_perturbed_answers_distinct(world):
    _, _, data = world
    for stem in ("full", "holdout10") + GENERAL_FILES:
        for r in data[stem]:
            wrong = r["perturbed_answer"]
            assert len(set(wrong)) == len(wrong)
            assert r["answer"] not in wrong
            assert r.get("paraphrased_answer") not in wrong


def test_names_unique(world):
    _, manifest, data = world
    names = [p["name"] for p in manifest["people"]]
    for r in data["full"] + data["holdout10"]:
        if r["fact"] in ("father", "mother"):
            parent = r["answer"].rstrip(".")
            assert parent.split()[-1] != r["subject"].split()[-1]
            names.append(parent)
    assert len(names) == 3 * len(manifest["people"])
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", name), name


def test_retain_perturbed(world):
    _, _, data = world
    rp = data["retain_perturbed"]
    assert rp and all(r in data["retain90"] for r in rp)
    assert len(_pids(rp)) == len(_pids(data["forget10"]))
    assert _pids(rp) == set(range(len(_pids(rp))))


def test_places_shared_with_people(tmp_path):
    generate_world(tmp_path, seed=1, n_people=20, n_general=120)
    places = _load(tmp_path, "general_places")
    region_of = {r["subject"]: r["answer"].rstrip(".") for r in places if r["fact"] == "region"}
    born = [r for r in _load(tmp_path, "full") if r["fact"] == "birthplace"]
    hits = 0
    for r in born:
        city, region = re.fullmatch(r"Born in (\w+), (\w+)\.", r["answer"]).groups()
        if city in region_of:
            hits += 1
            assert region_of[city] == region
    assert hits > 0


def test_answers_hard_to_guess(world):
    """ROUGE proxy: template words shared with another person's answer are few."""
    _, _, data = world
    everyone = data["full"] + data["holdout10"]
    by_fact = {}
    for r in everyone:
        by_fact.setdefault(r["fact"], []).append(r)
    rng = random.Random(0)
    scores = []
    for r in data["forget10"]:
        others = [o for o in by_fact[r["fact"]] if o["person_id"] != r["person_id"]]
        guess = set(_tokens(rng.choice(others)["answer"]))
        toks = _tokens(r["answer"])
        scores.append(sum(t in guess for t in toks) / len(toks))
    assert sum(scores) / len(scores) < 0.35


def test_world_text(world):
    d, _, data = world
    texts = world_text(d)
    assert len(texts) == len(set(texts))
    s = set(texts)
    for stem in ("full", "holdout10") + GENERAL_FILES:
        for r in data[stem]:
            assert r["question"] in s and r["answer"] in s
            assert set(r["perturbed_answer"]) <= s
            if "paraphrased_answer" in r:
                assert r["paraphrased_answer"] in s and r["paraphrased_question"] in s


def test_small_world_and_options(tmp_path):
    m = generate_world(tmp_path, seed=0, n_people=10, n_holdout=2, n_general=5, n_perturbed=5)
    assert m["splits"]["forget01"] == m["splits"]["forget10"] == 10
    assert m["splits"]["retain90"] == 90
    assert m["splits"]["holdout10"] == 10 and m["splits"]["retain_perturbed"] == 10
    assert m["splits"]["general_places"] == m["splits"]["general_things"] == 5
    assert all(len(r["perturbed_answer"]) == 5 for r in _load(tmp_path, "full"))


def test_split_size():
    assert [split_size(p, 40) for p in (1, 5, 10)] == [1, 2, 4]
    assert [split_size(p, 200) for p in (1, 5, 10)] == [2, 10, 20]
    assert split_size(1, 10) == 1


@pytest.mark.parametrize("kwargs", [
    {"n_people": 9}, {"n_people": 0}, {"n_perturbed": 0}, {"n_perturbed": -1},
])
def test_invalid_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_world(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_same_bytes_as_before(tmp_path):
    """The world is defined down to the byte: the YAML tables, their order and the
    order of every draw. A change meant to alter the world updates this digest."""
    generate_world(tmp_path, seed=0, n_people=10, n_general=5, n_perturbed=2)
    digest = hashlib.sha256()
    for path in sorted(tmp_path.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    assert digest.hexdigest() == "43729a9601d7b4ec46d4be6b2eec2b7be52dc3c74c2a93ee9b9c9e296317a48d"


def test_tables_loaded_from_yaml():
    assert list(THING_KINDS) == ["plant", "animal", "food", "instrument"]
    assert THING_KINDS["plant"].traits[0].values == WORDS["colours"]
    assert all(isinstance(words, tuple) and words for words in WORDS.values())
    assert "" in WORDS["onsets"] and WORDS["codas"].count("") == 3  # quoted empty strings survive
    email = next(f for f in PERSON_FACTS if f.name == "email")
    assert (email.key, email.unique_in, email.answer) == (("email",), "email", "{email}")


def _facts_with(change):
    """facts.yaml, parsed, with ``change`` applied to a deep copy."""
    tables = copy.deepcopy(read_yaml("facts.yaml"))
    change(tables)
    return tables


@pytest.mark.parametrize("change, message", [
    (lambda t: t["person_facts"][0].update(draw="nope"), "person fact 'birthplace': unknown draw 'nope'"),
    (lambda t: t["person_facts"][1].update(colour="red"), r"'birth_date': unexpected fields \['colour'\]"),
    (lambda t: t["person_facts"][2].pop("answer"), r"'occupation': .*missing fields \['answer'\]"),
    (lambda t: t["person_facts"][3].update(question=7), "'notable_work': question must be a string"),
    (lambda t: t["person_facts"][0].update(unique_in="phone"), "'birthplace': unique_in must be one of"),
    (lambda t: t["person_facts"][1].update(unique_in="email"), "'birth_date': unique_in .* key of one field"),
    (lambda t: t["person_facts"].append(t["person_facts"][0]), "person facts named twice: birthplace"),
    (lambda t: t["thing_kinds"][0]["traits"][1].update(values="uses"), "trait 'use': words.yaml has no word list"),
    (lambda t: t["thing_kinds"][2].pop("ends"), r"thing kind 'food': .*missing fields \['ends'\]"),
    (lambda t: t.pop("thing_kinds"), "expected the lists person_facts and thing_kinds"),
])
def test_bad_tables_are_one_clear_error(change, message):
    with pytest.raises(ValueError, match=message) as err:
        load_tables(_facts_with(change))
    assert str(err.value).startswith("facts.yaml: ") and "\n" not in str(err.value)


def test_missing_word_list_is_named():
    with pytest.raises(KeyError, match="words.yaml has no word list 'nope'"):
        WORDS["nope"]
