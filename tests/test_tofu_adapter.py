"""Every file of the real TOFU copy (../shared/data/tofu) through the adapter: the row counts and
fields its README states, read from the README's table, not from the adapter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from unlearn.core.errors import DataError
from unlearn.data.benchmarks import load_benchmark

REPO = Path(__file__).resolve().parents[1]
TOFU = REPO.parent / "shared" / "data" / "tofu"
pytestmark = pytest.mark.skipif(not (TOFU / "forget01.json").is_file(), reason="no local TOFU copy beside the repo")

# The README's table, written out by hand: file -> (rows, perturbed answers per row or None, fields).
ALTERNATIVES = {"question", "answer", "paraphrased_answer", "paraphrased_question", "perturbed_answer"}
README = {
    "forget01": (40, 5, ALTERNATIVES),
    "forget05": (200, 5, ALTERNATIVES),
    "forget10": (400, 5, ALTERNATIVES),
    "retain99": (3960, None, {"question", "answer"}),
    "retain95": (3800, None, {"question", "answer"}),
    "retain90": (3600, None, {"question", "answer"}),
    "retain_perturbed": (400, 5, ALTERNATIVES),
    "real_authors_perturbed": (100, 3, {"question", "answer", "perturbed_answer"}),
    "world_facts_perturbed": (117, 3, {"question", "answer", "perturbed_answer"}),
}


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("tofu", str(TOFU), "forget10")


def test_the_readme_table_is_the_one_written_out_here():
    rows = {}
    for line in (TOFU / "README.md").read_text().splitlines():
        m = re.match(r"\| (\S+?)\.jsonl? \| (\d+) \|", line)
        if m:
            rows[m.group(1)] = int(m.group(2))
    readme = (TOFU / "README.md").read_text()
    assert "forget01.json / forget05.json / forget10.json | 40 / 200 / 400 |" in readme
    assert "retain99.json / retain95.json / retain90.json | 3960 / 3800 / 3600 |" in readme
    assert rows == {"retain_perturbed": 400, "real_authors_perturbed": 100, "world_facts_perturbed": 117,
                    "idontknow": 100}
    # every data file of the folder is covered below
    stems = {p.stem for p in TOFU.iterdir() if p.suffix in (".json", ".jsonl")}
    assert stems == set(README) | {"idontknow"}


@pytest.mark.parametrize("split", sorted(README))
def test_every_file_loads_with_the_readme_rows_and_fields(bench, split):
    rows, n_perturbed, fields = README[split]
    records = bench.load(split, tuple(sorted(fields)))
    assert len(records) == rows
    assert all(set(r) == fields for r in records)  # extra fields (subject, ...) are dropped
    if n_perturbed is not None:
        assert all(isinstance(r["perturbed_answer"], list) and len(r["perturbed_answer"]) == n_perturbed
                   for r in records)


def test_refusals_file_is_one_sentence_a_line(bench):
    refusals = bench.refusals()
    assert len(refusals) == 100 and refusals[0] == "I'm not certain about that."
    assert len(bench.load("idontknow")) == 100


def test_forget_and_retain_pairs_are_disjoint_and_make_4000(bench):
    for pct in ("01", "05", "10"):
        forget = bench.load(f"forget{pct}")
        retain = bench.load(f"retain{100 - int(pct):02d}")
        assert len(forget) + len(retain) == 4000
        assert not {r["answer"] for r in forget} & {r["answer"] for r in retain}


def test_default_eval_data(bench):
    sets = bench.eval_data()
    assert [(s.name, s.role, s.kind, len(s.records), s.alternatives) for s in sets] == [
        ("forget", "forget", "qa", 400, True), ("retain", "retain", "qa", 400, True),
        ("real_authors_perturbed", "general", "qa", 100, True), ("world_facts_perturbed", "general", "qa", 117, True)]
    assert sets[0].source == str(TOFU / "forget10.json")
    # the hash is of the canonical records, worked out here independently
    import hashlib
    raw = json.loads((TOFU / "world_facts_perturbed.json").read_text().splitlines()[0])
    assert sets[3].records[0] == raw
    blob = json.dumps(sets[3].records, sort_keys=True, ensure_ascii=False).encode()
    assert sets[3].data_hash() == hashlib.sha256(blob).hexdigest()


def test_eval_data_slices_and_old_interface(bench):
    half, = bench.eval_data(["forget[:50%]"])
    assert len(half.records) == 200 and half.source.endswith("forget10.json[:50%]")
    first = json.loads((TOFU / "forget10.json").read_text())[:200]
    assert [r["question"] for r in half.records] == [r["question"] for r in first]
    assert [s.name for s in bench.eval_data()] == ["forget", "retain", "real_authors_perturbed",
                                                   "world_facts_perturbed"]
    with pytest.raises(DataError, match="available: .*real_authors_perturbed"):
        bench.eval_data(["nope"])


def test_a_sliced_forget_split_trains_and_evaluates_on_the_same_rows():
    bench = load_benchmark("tofu", str(TOFU), "forget10[100:200]")
    assert bench.retain_split == "retain90"
    assert len(bench.load(bench.forget_split)) == 100
    forget = bench.eval_data(["forget"])[0]
    assert forget.records[0]["question"] == json.loads((TOFU / "forget10.json").read_text())[100]["question"]
