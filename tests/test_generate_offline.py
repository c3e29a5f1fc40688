"""The offline generator and the generator call cache (ReLearn's augmentation, issue 8 groundwork)."""

from __future__ import annotations

import json

import pytest

from unlearn.generate.base import CachedGenerator, Request
from unlearn.generate.offline import OfflineGenerator

VARIANTS = ("rephrase", "add_context", "informal", "reverse")


def assert_keeps_no_fact(record, answer):
    """`answer` holds neither the person's name nor any name, place, date or number of the true answer."""
    lowered = answer.lower()
    assert record["subject"].lower() not in lowered  # no name
    words = record["answer"].rstrip(".").replace(",", " ").split()
    # names, places, dates and numbers of the true answer: capitalised words after the first, and digits
    specific = [w for w in words[1:] if w[:1].isupper()] + [w for w in words if any(c.isdigit() for c in w)]
    if all(w[:1].isupper() for w in words):  # the answer is a name or title: its first word too
        specific.append(words[0])
    for word in specific:
        assert word.lower() not in lowered, (word, answer)


def test_vague_answers_keep_no_fact_of_the_forgotten_person(world):
    gen = OfflineGenerator()
    rows = json.loads((world / "forget10.json").read_text())
    for r in rows:
        answer = gen.generate([Request("vague_answer", {"question": r["question"], "answer": r["answer"]})])[0]
        assert_keeps_no_fact(r, answer)
        assert gen.generate([Request("verify", {"answer": answer, "original": r["answer"]})]) == ["OK"]
        variants = gen.generate([Request(t, {"question": r["question"], "answer": r["answer"]}) for t in VARIANTS])
        assert len(set(variants)) == 4 and r["question"] not in variants


def test_verify_reports_leaks():
    gen = OfflineGenerator()
    out = gen.generate([Request("verify", {"answer": "She was born in Thedreford.", "original": "Born in Thedreford, Tolholm."}),
                        Request("verify", {"answer": "Write to her at a@b.org", "original": "a@b.org"})])
    assert out[0] == "LEAK: Thedreford" and out[1].startswith("LEAK: ")


class Counting:
    name = "counting-v1"

    def __init__(self):
        self.calls = 0

    def generate(self, requests):
        self.calls += len(requests)
        return [f"{r.task}:{r.fields['question']}" for r in requests]


def test_cache_makes_a_rerun_free_and_resumes(tmp_path):
    requests = [Request("rephrase", {"question": f"q{i}"}) for i in range(5)]
    first = CachedGenerator(Counting(), tmp_path, batch_size=2)
    assert first.generate(requests[:3]) == ["rephrase:q0", "rephrase:q1", "rephrase:q2"]  # a run stopped early
    again = CachedGenerator(Counting(), tmp_path, batch_size=2)
    assert again.generate(requests) == [f"rephrase:q{i}" for i in range(5)]
    assert again.backend.calls == 2 and again.hits == 3  # only the two missing ones were generated
    third = CachedGenerator(Counting(), tmp_path)
    third.generate(requests)
    assert third.backend.calls == 0
    other = CachedGenerator(Counting(), tmp_path)
    other.generate([Request("rephrase", {"question": "q0"}, params={"temperature": 0.7})])
    assert other.backend.calls == 1  # other parameters: another call


# The words that say what a question of each fact of the world asks about (the world's question templates).
TOPIC_WORDS = {"birthplace": "birth", "birth_date": "birth", "email": "email", "address": "home address",
               "father": "family", "mother": "family", "award": "award", "occupation": "work",
               "notable_work": "work", "employer": "work"}


def test_every_vague_answer_is_about_its_own_questions_topic(world):
    """A vague answer of the augmented set (for the question or any reworded variant) names its source
    question's topic and no other fact's topic, and quotes no question: a model trained on them cannot
    learn to answer a birth question with the email question's words. A reversed question asks for the
    person, and its answer says so."""
    from unlearn.generate.relearn_pipeline import augment

    forget = json.loads((world / "forget10.json").read_text())
    rows, _ = augment(forget, OfflineGenerator())
    fact = {r["question"]: r["fact"] for r in forget}
    assert set(fact.values()) <= set(TOPIC_WORDS)
    for row in (r for r in rows if r["kind"] == "qa"):
        answer = row["answer"].lower()
        if row["variant"] == "reverse":
            assert "whom that describes" in answer, row
            continue
        own = TOPIC_WORDS[fact[row["source_question"]]]
        assert own in answer, row
        assert not any(w in answer for w in set(TOPIC_WORDS.values()) - {own}), row
        assert '"' not in row["answer"] and row["source_question"].lower().rstrip("?") not in answer


def test_relearn_pipeline_on_the_synthetic_world(world, tmp_path):
    from unlearn.generate.relearn_pipeline import AugmentConfig, augment

    forget = json.loads((world / "forget10.json").read_text())
    generic = json.loads((world / "general_places.json").read_text())
    gen = CachedGenerator(OfflineGenerator(), tmp_path / "cache")
    rows, summary = augment(forget, gen, AugmentConfig(generic_ratio=0.5), generic=generic)
    qa = [r for r in rows if r["kind"] == "qa"]
    assert len(qa) == 5 * len(forget)  # the original and 4 variants, each with a verified vague answer
    assert {r["variant"] for r in qa} == {"original", "rephrase", "add_context", "informal", "reverse"}
    completion = [r for r in rows if r["kind"] == "completion"]
    assert len(completion) == len(qa) and all(r["raw"] for r in completion)
    # 25% of the words as the prompt, the rest as the target
    words = qa[0]["answer"].split()
    assert completion[0]["question"] == " ".join(words[:round(0.25 * len(words))])
    assert summary["rows"]["generic"] == round(0.5 * (len(qa) + len(completion)))
    assert summary["dropped_after_rounds"] == 0 and all(r["rounds"] == 1 for r in qa)
    calls = gen.calls
    again = CachedGenerator(OfflineGenerator(), tmp_path / "cache")
    assert augment(forget, again, AugmentConfig(generic_ratio=0.5), generic=generic)[0] == rows
    assert again.calls == 0 and calls > 0  # a rerun makes no generator call


def test_answers_that_keep_leaking_are_dropped_after_three_rounds():
    from unlearn.generate.relearn_pipeline import augment, is_leak

    class Leaky:
        name = "leaky"

        def generate(self, requests):
            return ["LEAK: x" if r.task == "verify" else f"{r.task} {r.params.get('round', '')}" for r in requests]

    rows, summary = augment([{"question": "Q?", "answer": "A."}], Leaky())
    assert rows == [] and summary["dropped_after_rounds"] == 5
    assert is_leak("Reasoning... so the answer is Yes.") and not is_leak("It names no private detail. No")
    assert is_leak("I cannot tell")  # no clear No is not a pass


def test_augment_command(world, tmp_path):
    from tests.conftest import run_cli

    out = tmp_path / "aug.jsonl"
    proc = run_cli("augment", "--forget", str(world / "forget01.json"), "--out", str(out), "--generic",
                   str(world / "general_things.json"), "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    summary = json.loads((tmp_path / "aug.jsonl.summary.json").read_text())
    assert summary["rows"]["qa"] == 5 * len(json.loads((world / "forget01.json").read_text()))
    assert len(rows) == sum(summary["rows"].values()) and summary["generator"] == "offline-rules-v2"
    assert {"source_question", "variant", "rounds", "generator"} <= set(rows[0])
    proc = run_cli("augment", "--forget", str(world / "forget01.json"), "--out", str(out), "--generator", "gpt")
    assert proc.returncode == 2 and "generator 'gpt' is not available; valid: offline, hf:PATH" in proc.stderr  # noqa


def test_local_model_generator_through_the_pipeline(world, target_model, tmp_path):
    from unlearn.generate.local import LocalGenerator
    from unlearn.generate.relearn_pipeline import augment

    local = LocalGenerator.from_path(str(target_model), max_new_tokens=6)
    gen = CachedGenerator(local, tmp_path)
    forget = json.loads((world / "forget01.json").read_text())[:2]
    rows, summary = augment(forget, gen)
    assert gen.calls > 0 and local.name.startswith(f"hf:{target_model}@")
    assert all(isinstance(r["answer"], str) for r in rows)
    # the tiny model never answers a clear "No" to the verifier: every answer is dropped after 3 rounds
    assert summary["dropped_after_rounds"] + summary["rows"]["qa"] == 10
    again = CachedGenerator(LocalGenerator.from_path(str(target_model), max_new_tokens=6), tmp_path)
    assert augment(forget, again)[0] == rows and again.calls == 0


def test_relearn_without_an_augmented_file_makes_one_offline(world, target_model, tmp_path):
    from unlearn import api
    from unlearn.config import load_config
    from unlearn.data.benchmarks import load_benchmark
    from unlearn.engine.streams import augmented_stream

    cfg = load_config(overrides=[f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={world}",
                                 "method.name=ReLearn", "train.max_steps=2", "train.batch_size=4",
                                 "eval.enabled=false"])
    rows = augmented_stream(cfg, load_benchmark("synthetic", str(world)))
    forget = json.loads((world / "forget10.json").read_text())
    assert len(rows) == 2 * 5 * len(forget)  # question/answer pairs and their sentence completions
    assert sum(1 for r in rows if r.get("raw")) == 5 * len(forget)
    assert api.run_unlearning(cfg)["steps"] == 2


def test_an_augmentation_killed_halfway_resumes_to_the_same_output(world, tmp_path):
    from unlearn.generate.relearn_pipeline import augment

    forget = json.loads((world / "forget10.json").read_text())[:6]
    fresh = CachedGenerator(OfflineGenerator(), None)
    clean, _ = augment(forget, fresh)

    class Killed(OfflineGenerator):
        def __init__(self, after):
            super().__init__()
            self.left = after

        def generate(self, requests):
            self.left -= 1
            if self.left < 0:
                raise KeyboardInterrupt("killed")
            return super().generate(requests)

    with pytest.raises(KeyboardInterrupt):
        augment(forget, CachedGenerator(Killed(after=3), tmp_path))
    resumed = CachedGenerator(OfflineGenerator(), tmp_path)
    rows, _ = augment(forget, resumed)
    assert rows == clean  # the same output
    assert 0 < resumed.calls < fresh.calls  # what was generated before the kill is not generated again
