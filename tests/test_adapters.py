"""Data adapters (SPEC section 8): MUSE, KnowUnDo, WMDP and custom files to canonical records, split
slicing, column mapping, the one-line errors on bad input, and raw (template-free) tokenisation.
Every file is made here, small; the expected records are written out by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from unlearn.core.errors import DataError
from unlearn.data.adapters import EvalData, parse_split, slice_range
from unlearn.data.benchmarks import BENCHMARKS, load_benchmark

QA = [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(10)]


def _json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _csv(path: Path, rows, fields) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _error(fn) -> str:
    with pytest.raises(DataError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


# -- slicing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, rows", [
    ("forget10", list(range(10))),
    ("forget10[:50%]", [0, 1, 2, 3, 4]),
    ("forget10[50%:]", [5, 6, 7, 8, 9]),
    ("forget10[2:5]", [2, 3, 4]),
    ("forget10[7:]", [7, 8, 9]),
    ("forget10[-2:]", [8, 9]),
    ("forget10[10%:30%]", [1, 2]),
    ("forget10[:25%]", [0, 1, 2]),  # 2.5 rows rounds to 3
    ("forget10[100:200]", []),
])
def test_slices(spec, rows):
    name, slice_text = parse_split(spec)
    assert name == "forget10"
    assert list(slice_range(slice_text, 10, spec)) == rows


@pytest.mark.parametrize("spec", ["forget10[:50]%", "forget10[a:b]", "forget10[1:2:3]", "forget10[5]",
                                  "forget10[:150%]", "forget10[1.5:]", "forget10[:5", "[1:2]"])
def test_malformed_slice_is_a_one_line_error_with_the_fix(spec):
    message = _error(lambda: parse_split(spec))
    assert repr(spec) in message and "forget10[:50%]" in message


def _custom(tmp_path: Path, forget_rows, retain_rows=None, **files) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir(exist_ok=True)
    _jsonl(folder / "forget.jsonl", forget_rows)
    _json(folder / "retain.json", retain_rows if retain_rows is not None else QA)
    for name, rows in files.items():
        _jsonl(folder / f"{name}.jsonl", rows)
    return folder


def test_slices_apply_in_load_and_eval_data(tmp_path):
    bench = load_benchmark("custom", str(_custom(tmp_path, QA)))
    assert [r["question"] for r in bench.load("forget[:50%]")] == ["Q0?", "Q1?", "Q2?", "Q3?", "Q4?"]
    assert [r["question"] for r in bench.load("retain[8:]")] == ["Q8?", "Q9?"]
    forget, retain = bench.eval_data(["forget[2:4]", "retain[-1:]"])
    assert [r["answer"] for r in forget.records] == ["A2.", "A3."]
    assert retain.records == [{"question": "Q9?", "answer": "A9."}]
    assert forget.source == f"{tmp_path}/mine/forget.jsonl[2:4]"


def test_an_empty_forget_set_names_the_file(tmp_path):
    folder = _custom(tmp_path, QA)
    bench = load_benchmark("custom", str(folder))
    message = _error(lambda: bench.eval_data(["forget[20:]"]))
    assert "forget.jsonl" in message and "widen the slice" in message
    (folder / "forget.jsonl").write_text("")
    message = _error(lambda: load_benchmark("custom", str(folder)).eval_data())
    assert "forget.jsonl" in message and "no records" in message


# -- custom files, renamed columns -----------------------------------------------------------------
RENAMED = [{"prompt": "Who?", "response": "Ann.", "wrong": ["Bob.", "Cy."], "para": "It is Ann."},
           {"prompt": "Where?", "response": "Oslo.", "wrong": ["Rome.", "Lima."], "para": "In Oslo."}]
COLUMNS = {"question": "prompt", "answer": "response", "perturbed_answer": "wrong", "paraphrased_answer": "para"}
CANONICAL = [{"question": "Who?", "answer": "Ann.", "perturbed_answer": ["Bob.", "Cy."],
              "paraphrased_answer": "It is Ann."},
             {"question": "Where?", "answer": "Oslo.", "perturbed_answer": ["Rome.", "Lima."],
              "paraphrased_answer": "In Oslo."}]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_custom_formats_with_renamed_columns(tmp_path, fmt):
    folder = tmp_path / fmt
    folder.mkdir()
    path = folder / f"forget.{fmt}"
    if fmt == "json":
        _json(path, RENAMED)
    elif fmt == "jsonl":
        _jsonl(path, RENAMED)
    elif fmt == "csv":  # lists in a CSV cell are written as JSON
        _csv(path, [{**r, "wrong": json.dumps(r["wrong"])} for r in RENAMED], list(RENAMED[0]))
    else:
        import pandas as pd

        pd.DataFrame(RENAMED).to_parquet(path)
    _csv(folder / "retain.csv", [{"prompt": "Q?", "response": "R."}], ["prompt", "response"])
    bench = load_benchmark("custom", str(folder), columns=COLUMNS)
    forget, retain = bench.eval_data()
    assert (forget.name, forget.role, forget.kind, forget.alternatives) == ("forget", "forget", "qa", True)
    assert forget.records == CANONICAL
    assert (retain.records, retain.alternatives) == ([{"question": "Q?", "answer": "R."}], False)
    assert bench.load("forget") == CANONICAL


def test_single_perturbed_answer_string_is_wrapped(tmp_path):
    rows = [{"question": "Q?", "answer": "A.", "perturbed_answer": "B."}]
    bench = load_benchmark("custom", str(_custom(tmp_path, rows)))
    assert bench.eval_data(["forget"])[0].records == [{"question": "Q?", "answer": "A.", "perturbed_answer": ["B."]}]


def test_unequal_perturbed_counts_name_file_row_counts_and_fix(tmp_path):
    rows = [{"question": f"Q{i}", "answer": "A", "perturbed_answer": ["x", "y", "z"]} for i in range(3)]
    rows.append({"question": "Q3", "answer": "A", "perturbed_answer": ["x", "y"]})
    bench = load_benchmark("custom", str(_custom(tmp_path, rows)))
    message = _error(lambda: bench.eval_data(["forget"]))
    assert "forget.jsonl" in message and "row 3 has 2 perturbed answers but row 0 has 3" in message
    assert "same number of perturbed_answer" in message
    # within a slice, row numbers are still the file's
    message = _error(lambda: bench.eval_data(["forget[1:]"]))
    assert "row 3 has 2 perturbed answers but row 1 has 3" in message


def test_missing_column_names_file_row_column_and_fix(tmp_path):
    rows = [{"prompt": "Q?", "response": "A."}, {"prompt": "Q2?", "reply": "B."}]
    bench = load_benchmark("custom", str(_custom(tmp_path, rows, [{"prompt": "Q?", "response": "A."}])),
                           columns={"question": "prompt", "answer": "response"})
    message = _error(lambda: bench.load("forget"))
    assert "forget.jsonl" in message and "row 1" in message and "'response'" in message
    assert "data.columns.answer=" in message
    # unmapped: the fix says how to name the column
    bench = load_benchmark("custom", str(_custom(tmp_path, [{"question": "Q?", "reply": "A."}], [])))
    message = _error(lambda: bench.load("retain"))
    assert "retain.json" in message and "no records" in message
    message = _error(lambda: bench.load("forget"))
    assert "forget.jsonl" in message and "row 0" in message and "data.columns.question=" in message


def test_text_files_are_kind_text_and_train_raw(tmp_path):
    folder = _custom(tmp_path, [{"content": "First doc."}, {"content": "Second doc."}])
    (folder / "holdout.txt").write_text("Para one\nstill one.\n\n  \nPara two.\n")
    bench = load_benchmark("custom", str(folder), columns={"text": "content"})
    forget, retain, holdout = bench.eval_data()
    assert (forget.kind, forget.records) == ("text", [{"text": "First doc."}, {"text": "Second doc."}])
    assert (retain.kind, holdout.role, holdout.kind) == ("qa", "holdout", "text")
    assert holdout.records == [{"text": "Para one\nstill one."}, {"text": "Para two."}]
    assert bench.load("forget") == [{"question": "", "answer": "First doc.", "raw": True},
                                    {"question": "", "answer": "Second doc.", "raw": True}]


def test_eval_data_unknown_and_repeated_names(tmp_path):
    bench = load_benchmark("custom", str(_custom(tmp_path, QA, extra=QA[:2])))
    message = _error(lambda: bench.eval_data(["nope"]))
    assert "'nope'" in message and "available: extra, forget, retain" in message
    assert "twice" in _error(lambda: bench.eval_data(["forget", "forget[:1]"]))
    extra, = bench.eval_data(["extra"])
    assert (extra.role, len(extra.records)) == ("general", 2)


def test_custom_eval_data_with_a_holdout_file(tmp_path):
    bench = load_benchmark("custom", str(_custom(tmp_path, QA, holdout=QA[:1])))
    assert [(s.name, s.role, s.kind, s.alternatives) for s in bench.eval_data()] == [
        ("forget", "forget", "qa", False), ("retain", "retain", "qa", False),
        ("holdout", "holdout", "qa", False)]


def test_eval_data_hash_is_sha256_of_sorted_json():
    import hashlib

    data = EvalData("x", "forget", "qa", [{"b": 1, "a": "é"}], "f")
    assert data.data_hash() == hashlib.sha256('[{"a": "é", "b": 1}]'.encode()).hexdigest()


# -- synthetic -------------------------------------------------------------------------------------
def test_synthetic_default_eval_data(world):
    bench = load_benchmark("synthetic", str(world), "forget05")
    sets = bench.eval_data()
    assert [(s.name, s.role, s.kind, s.alternatives) for s in sets] == [
        ("forget", "forget", "qa", True), ("retain", "retain", "qa", True),
        ("general_places", "general", "qa", True), ("general_things", "general", "qa", True),
        ("holdout", "holdout", "qa", True)]
    assert sets[-1].source == str(world / "holdout05.json")
    assert sets[0].records[0]["question"] == json.loads((world / "forget05.json").read_text())[0]["question"]


# -- MUSE ------------------------------------------------------------------------------------------
def _muse(tmp_path: Path) -> Path:
    root = tmp_path / "news"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "forget.txt").write_text("Article one.\n\nArticle two.\n")
    _json(root / "raw" / "retain1.json", ["Kept one.", "Kept two.", "Kept three."])
    _json(root / "knowmem" / "forget_qa.json", [{"question": "Who won?", "answer": "Ann"}])
    _json(root / "knowmem" / "retain_qa.json", [{"question": "Where?", "answer": "Oslo"}])
    _json(root / "verbmem" / "forget.json", [{"prompt": "Once upon", "gt": " a time."}])
    for split in ("forget", "retain", "holdout"):
        _json(root / "privleak" / f"{split}.json", [f"{split} text"])
    return root


def test_muse_folder(tmp_path):
    assert "muse" in BENCHMARKS
    bench = load_benchmark("muse", str(_muse(tmp_path)))
    sets = {s.name: s for s in bench.eval_data()}
    assert [(s.name, s.role, s.kind) for s in sets.values()] == [
        ("knowmem_forget", "forget", "qa"), ("knowmem_retain", "retain", "qa"),
        ("verbmem_forget", "forget", "completion"), ("privleak_forget", "forget", "text"),
        ("privleak_retain", "retain", "text"), ("privleak_holdout", "holdout", "text")]
    assert sets["knowmem_forget"].records == [{"question": "Who won?", "answer": "Ann"}]
    assert sets["verbmem_forget"].records == [{"question": "Once upon", "answer": " a time."}]
    assert sets["privleak_holdout"].records == [{"text": "holdout text"}]
    assert bench.forget_split == "forget" and bench.retain_split == "retain1"
    assert bench.load(bench.forget_split) == [{"question": "", "answer": "Article one.", "raw": True},
                                              {"question": "", "answer": "Article two.", "raw": True}]
    assert [r["answer"] for r in bench.load("retain1[1:]")] == ["Kept two.", "Kept three."]
    assert bench.train_splits() == ["forget", "retain1"] and bench.retain_train_splits() == ["retain1"]
    assert "raw/forget.txt" in bench.data_hashes()


def test_muse_older_names_and_missing_corpus(tmp_path):
    root = tmp_path / "books"
    _json(root / "knowmem" / "retain2_qa.json", [{"question": "Q", "answer": "A"}])
    _json(root / "privleak" / "retain2.json", [{"text": "T"}])
    bench = load_benchmark("muse", str(root))
    assert [s.name for s in bench.eval_data()] == ["knowmem_retain", "privleak_retain"]
    message = _error(lambda: bench.load("forget"))
    assert "raw/forget" in message and str(root) in message
    assert "MUSE" in _error(lambda: load_benchmark("muse", str(tmp_path)))  # no MUSE folder at the top


# -- KnowUnDo --------------------------------------------------------------------------------------
def test_knowundo_folder(tmp_path):
    root = tmp_path / "privacy"
    _json(root / "unlearn_train.json", [{"text": "What is X's phone?", "labels": "555-0101"}] * 3)
    _json(root / "unlearn_val.json", [{"text": "X's email?", "labels": "x@example.org"}])
    _json(root / "retention_train.json", [{"text": "Capital of France?", "labels": "Paris"}])
    bench = load_benchmark("knowundo", str(root))
    forget, retain = bench.eval_data()
    assert (forget.role, forget.kind, forget.records) == ("forget", "qa", [{"question": "X's email?",
                                                                            "answer": "x@example.org"}])
    assert retain.records == [{"question": "Capital of France?", "answer": "Paris"}]  # no retention_val
    assert bench.load("forget[:2]") == [{"question": "What is X's phone?", "answer": "555-0101"}] * 2
    assert bench.load(bench.retain_split) == [{"question": "Capital of France?", "answer": "Paris"}]
    (root / "retention_train.json").unlink()
    message = _error(lambda: load_benchmark("knowundo", str(root)))
    assert "no retain file" in message and "retention_train.json" in message


def test_knowundo_target_is_taught_the_facts_it_is_evaluated_on(tmp_path):
    """The authors fine-tune their target on full.json, the union of the four files, and evaluate on the
    *_val files (other facts about the same people): the target is taught all four, the retain model the
    two retention files, and a folder without *_val files teaches (and evaluates) the *_train ones once."""
    from types import SimpleNamespace

    from unlearn.engine.streams import train_stream

    root = tmp_path / "privacy"
    _json(root / "unlearn_train.json", [{"text": "X's phone?", "labels": "555-0101"}] * 2)
    _json(root / "unlearn_val.json", [{"text": "X's email?", "labels": "x@example.org"}])
    _json(root / "retention_train.json", [{"text": "Capital of France?", "labels": "Paris"}])
    _json(root / "retention_val.json", [{"text": "Capital of Peru?", "labels": "Lima"}])
    bench = load_benchmark("knowundo", str(root))

    def taught(splits):
        return [r["answer"] for r in train_stream(SimpleNamespace(data=SimpleNamespace(train_splits=splits)), bench)]

    assert taught([]) == ["555-0101", "555-0101", "x@example.org", "Paris", "Lima"]
    assert taught(bench.retain_train_splits()) == ["Paris", "Lima"]
    (root / "unlearn_val.json").unlink()
    (root / "retention_val.json").unlink()
    bench = load_benchmark("knowundo", str(root))
    assert taught([]) == ["555-0101", "555-0101", "Paris"]
    assert taught(bench.retain_train_splits()) == ["Paris"]


def test_knowundo_row_without_labels(tmp_path):
    root = tmp_path / "copyright"
    _json(root / "forget.json", [{"text": "Q", "labels": "A"}, {"text": "Q2"}])
    _json(root / "retain.json", [{"text": "Q", "labels": "A"}])
    message = _error(lambda: load_benchmark("knowundo", str(root)).load("forget"))
    assert "forget.json" in message and "row 1" in message and "'labels'" in message
    assert "data.columns.answer=" in message


# -- WMDP ------------------------------------------------------------------------------------------
def test_wmdp_folder(tmp_path):
    root = tmp_path / "wmdp"
    _json(root / "wmdp-bio.json", [{"question": "Which agent?", "choices": ["a", "b", "c", "d"], "answer": 2}])
    _jsonl(root / "mmlu.jsonl", [{"question": "2+2?", "choices": ["3", "4"], "answer": 1, "subject": "math"}])
    _jsonl(root / "bio-forget-corpus.jsonl", [{"title": "T", "text": "Hazard paper."}])
    _jsonl(root / "cyber-forget-corpus.jsonl", [{"text": "Exploit notes."}])
    _jsonl(root / "bio-retain-corpus.jsonl", [{"text": "Biology basics."}])
    bench = load_benchmark("wmdp", str(root))
    sets = bench.eval_data()
    assert [(s.name, s.role, s.kind) for s in sets] == [("mmlu", "general", "choice"), ("wmdp-bio", "forget", "choice")]
    assert sets[1].records == [{"question": "Which agent?", "choices": ["a", "b", "c", "d"], "label": 2}]
    assert [r["answer"] for r in bench.load(bench.forget_split)] == ["Hazard paper.", "Exploit notes."]
    assert bench.load("retain") == [{"question": "", "answer": "Biology basics.", "raw": True}]


def test_wmdp_bad_labels_and_choices(tmp_path):
    root = tmp_path / "w"
    _json(root / "wmdp-chem.json", [{"question": "Q", "choices": ["a", "b"], "answer": 0},
                                    {"question": "Q", "choices": ["a", "b"], "answer": 5}])
    message = _error(lambda: load_benchmark("wmdp", str(root)).eval_data())
    assert "wmdp-chem.json" in message and "row 1" in message and "0 to 1" in message
    _json(root / "wmdp-chem.json", [{"question": "Q", "choices": "a", "answer": 0}])
    message = _error(lambda: load_benchmark("wmdp", str(root)).eval_data())
    assert "row 0" in message and "list of at least 2 choices" in message
    _json(root / "wmdp-chem.json", [{"question": "Q", "choices": ["a", "b"], "answer": "B"}])
    assert load_benchmark("wmdp", str(root)).eval_data()[0].records[0]["label"] == 1
    message = _error(lambda: load_benchmark("wmdp", str(root)).load("forget"))
    assert "no forget corpus" in message


# -- raw tokenisation ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tok():
    from unlearn.models.tiny import train_tokenizer

    t = train_tokenizer(["Once upon a time there was a cat.", "Question: Who?\nAnswer: Ann."] * 4, vocab_size=300)
    t.pad_token = t.eos_token
    return t


def test_encode_raw_scores_the_continuation_and_eos(tok):
    from unlearn.data.tokenize import PromptFormatter

    fmt = PromptFormatter(tok, chat_template=False)
    prefix, cont = "Once upon", " a time there was a cat."
    enc = fmt.encode_raw(prefix, cont)
    # independently: the joint encoding and the tokens whose span ends inside the prefix
    joint = tok(prefix + cont, return_offsets_mapping=True)
    ids, offsets = joint["input_ids"], joint["offset_mapping"]
    if ids[-1] == tok.eos_token_id:
        ids, offsets = ids[:-1], offsets[:-1]
    n_prefix = sum(1 for i, (s, e) in enumerate(offsets) if e <= len(prefix))
    assert enc["input_ids"] == ids + [tok.eos_token_id]
    assert enc["labels"] == [-100] * n_prefix + ids[n_prefix:] + [tok.eos_token_id]
    assert tok.decode(enc["input_ids"][n_prefix:-1]) == cont
    assert "Question" not in tok.decode(enc["input_ids"])  # no template
    assert fmt.prompt_ids_raw(prefix) == ids[:n_prefix]


def test_encode_raw_with_an_empty_prefix_scores_every_token_after_bos(tok):
    from unlearn.data.tokenize import PromptFormatter

    fmt = PromptFormatter(tok, chat_template=False)
    text = "Once upon a time there was a cat."
    enc = fmt.encode_raw("", text)
    body = tok(text, add_special_tokens=False)["input_ids"]
    assert enc["input_ids"] == [tok.bos_token_id] + body + [tok.eos_token_id]
    assert enc["labels"] == [-100] + body + [tok.eos_token_id]
    assert fmt.prompt_ids_raw("") == [tok.bos_token_id]
    assert fmt.encode_record({"question": "", "answer": text, "raw": True}) == enc
    assert fmt.encode_record({"question": "Who?", "answer": "Ann."}) == fmt.encode("Who?", "Ann.")
    assert fmt.encode_raw("", text, max_length=4)["labels"] == [-100] + body[:3]


def test_a_target_taught_other_splits_has_another_fingerprint(tmp_path, monkeypatch):
    """Which splits a fine-tuning run is taught is part of its fingerprint (a target of a version that
    taught KnowUnDo's *_train files alone is never reused as one taught all four); an unlearning run's
    fingerprint has no such entry."""
    from unlearn.config import DataConfig, MethodConfig, RunConfig
    from unlearn.data.benchmarks.knowundo import KnowUnDoBenchmark
    from unlearn.engine.before import planned_fingerprint

    root = tmp_path / "privacy"
    for name in ("unlearn_train", "unlearn_val", "retention_train", "retention_val"):
        _json(root / f"{name}.json", [{"text": f"{name}?", "labels": "A"}])
    data = DataConfig(benchmark="knowundo", path=str(root))
    finetune = planned_fingerprint(RunConfig(data=data, method=MethodConfig(name="finetune")))
    assert finetune["train_splits_taught"] == ["forget", "unlearn_val", "retain", "retention_val"]
    assert not any(k.startswith("train_splits_taught") for k in
                   planned_fingerprint(RunConfig(data=data, method=MethodConfig(name="GA"))))
    monkeypatch.setattr(KnowUnDoBenchmark, "train_splits", lambda self: [self.forget_split, "retain"])
    older = planned_fingerprint(RunConfig(data=data, method=MethodConfig(name="finetune")))
    assert older["hash"] != finetune["hash"]
