"""The completion cutter: prefix/continuation pairs of exact token counts from documents."""

from __future__ import annotations

import json

import pytest

from unlearn.data.completions import cut_completions, cut_document


class WordTokenizer:
    """One token per space-separated word: token counts can be read off the text."""

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def encode(self, text, add_special_tokens=False):
        return [self.vocab.setdefault(w, len(self.vocab)) for w in text.split()]

    def decode(self, ids):
        words = {i: w for w, i in self.vocab.items()}
        return " ".join(words[i] for i in ids)


TEXT = " ".join(f"w{i}" for i in range(25))


def test_windows_do_not_overlap_by_default_and_drop_the_short_tail():
    records, counts = cut_completions([TEXT], WordTokenizer(), prefix_tokens=5, continuation_tokens=3)
    # windows of 8 tokens at 0, 8, 16 (16 + 8 = 24 <= 25); one at 24 would need 32
    assert [(r["question"], r["answer"], r["start"]) for r in records] == [
        ("w0 w1 w2 w3 w4", "w5 w6 w7", 0), ("w8 w9 w10 w11 w12", "w13 w14 w15", 8),
        ("w16 w17 w18 w19 w20", "w21 w22 w23", 16)]
    assert (counts.documents, counts.pairs, counts.too_short) == (1, 3, 0)


def test_a_stride_overlaps_windows_and_a_short_document_gives_none():
    short = " ".join(f"s{i}" for i in range(7))
    records, counts = cut_completions([TEXT, short], WordTokenizer(), prefix_tokens=5, continuation_tokens=3, stride=4)
    assert [r["start"] for r in records] == [0, 4, 8, 12, 16]  # 20 + 8 = 28 > 25
    assert records[1]["question"] == "w4 w5 w6 w7 w8" and records[1]["answer"] == "w9 w10 w11"
    assert (counts.documents, counts.pairs, counts.too_short) == (2, 5, 1)
    assert {r["document"] for r in records} == {0}


def test_cut_document_on_ids():
    assert cut_document(list(range(10)), 3, 2) == [(0, [0, 1, 2], [3, 4]), (5, [5, 6, 7], [8, 9])]
    assert cut_document(list(range(9)), 3, 2) == [(0, [0, 1, 2], [3, 4])]
    assert cut_document(list(range(9)), 3, 2, stride=2) == [(0, [0, 1, 2], [3, 4]), (2, [2, 3, 4], [5, 6]),
                                                            (4, [4, 5, 6], [7, 8])]


@pytest.mark.parametrize("kw", [{"prefix_tokens": 0}, {"continuation_tokens": -1}, {"stride": 0},
                                {"prefix_tokens": 2.5}])
def test_lengths_must_be_positive_whole_numbers(kw):
    with pytest.raises(ValueError, match="positive whole number"):
        cut_completions([TEXT], WordTokenizer(), **kw)


def test_a_real_tokenizers_prefix_keeps_its_token_count(target_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target_model)
    text = ("It was a bright cold day in April, and the clocks were striking thirteen. " * 12).strip()
    records, counts = cut_completions([text], tok, prefix_tokens=20, continuation_tokens=10)
    ids = tok.encode(text, add_special_tokens=False)
    assert counts.pairs == len(ids) // 30 > 0
    for r in records:
        assert tok.encode(r["question"], add_special_tokens=False) == ids[r["start"]:r["start"] + 20]
        assert len(tok.encode(r["answer"], add_special_tokens=False)) == 10


def _texts(tmp_path):
    words = "the wizard walked to the castle and the owl flew over the dark forest at night".split()
    make = lambda n, shift: " ".join(words[(i * 7 + shift) % len(words)] for i in range(n))  # noqa: E731
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "ch1.txt").write_text(make(120, 0))
    (tmp_path / "book" / "ch2.txt").write_text(make(90, 3))
    (tmp_path / "retain.txt").write_text(make(100, 5))
    (tmp_path / "wiki.txt").write_text("A general text about rivers and mountains.")
    return tmp_path


def test_the_completions_command_writes_a_folder_the_completion_benchmark_reads(target_model, tmp_path):
    from unlearn.cli import main
    from unlearn.data.benchmarks import load_benchmark

    src = _texts(tmp_path)
    out = tmp_path / "cut"
    main(["completions", "--forget", str(src / "book"), "--retain", str(src / "retain.txt"), "--general",
          str(src / "wiki.txt"), "--tokenizer", str(target_model), "--prefix-tokens", "12",
          "--continuation-tokens", "6", "--out", str(out)])
    manifest = json.loads((out / "completions.json").read_text())
    assert manifest["prefix_tokens"] == 12 and manifest["sets"]["forget"]["documents"] == 2
    bench = load_benchmark("completion", str(out))
    sets = {d.name: d for d in bench.eval_data()}
    assert [(n, d.role, d.kind) for n, d in sets.items()] == [
        ("forget", "forget", "completion"), ("retain", "retain", "completion"), ("general", "general", "text")]
    assert len(sets["forget"].records) == manifest["sets"]["forget"]["pairs"] > 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target_model)
    first = sets["forget"].records[0]
    assert len(tok.encode(first["question"], add_special_tokens=False)) == 12
    assert len(tok.encode(first["answer"], add_special_tokens=False)) == 6
    assert bench.train_splits() == ["forget", "retain"]
    train = bench.load("forget")  # the pairs, trained on raw: the continuation given its prefix
    assert train[0] == {"question": first["question"], "answer": first["answer"], "raw": True}
    assert (out / "documents" / "forget.txt").read_text().startswith((src / "book" / "ch1.txt").read_text())
    # an earlier completions folder is replaced whole: cut again with other lengths
    main(["completions", "--forget", str(src / "book"), "--retain", str(src / "retain.txt"), "--tokenizer",
          str(target_model), "--prefix-tokens", "8", "--continuation-tokens", "4", "--out", str(out)])
    assert json.loads((out / "completions.json").read_text())["prefix_tokens"] == 8
    assert not (out / "general.txt").exists()


def test_completions_input_errors_are_one_line(tmp_path):
    from unlearn.core.errors import DataError
    from unlearn.data.completions import read_documents

    (tmp_path / "empty").mkdir()
    (tmp_path / "book.pdf").write_bytes(b"%PDF")
    for path, fragment in ((tmp_path / "nope.txt", "does not exist"), (tmp_path / "empty", "holds no .txt files"),
                           (tmp_path / "book.pdf", "is not a .txt file")):
        with pytest.raises(DataError, match=fragment) as err:
            read_documents(path, "--forget")
        assert "\n" not in str(err.value)


def test_words_cut_as_flats_files_without_a_model(tmp_path):
    from unlearn import api

    (tmp_path / "book.txt").write_text(TEXT + "\n\nsecond paragraph here")
    (tmp_path / "other.txt").write_text(TEXT)
    manifest = api.completions(str(tmp_path / "book.txt"), str(tmp_path / "cut"), "words", str(tmp_path / "other.txt"),
                               prefix_tokens=5, continuation_tokens=3)
    assert manifest["tokenizer"] == "words" and manifest["sets"]["forget"]["pairs"] == 3  # 28 words: 0, 8, 16
    first = json.loads((tmp_path / "cut" / "forget.jsonl").read_text().splitlines()[0])
    assert (first["prompt"], first["continuation"]) == ("w0 w1 w2 w3 w4", "w5 w6 w7")
