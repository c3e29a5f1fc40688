"""Generated targets other than ReLearn's: a refusal per forget question (IdkDPO / IDK,
data.alternatives) and TRU's reasoning refusals (data.targets), through the same backends and checks."""

from __future__ import annotations

import json

import pytest

from tests.test_generate_offline import assert_keeps_no_fact
from unlearn.config import load_config
from unlearn.core.errors import ConfigError, DataError
from unlearn.data.benchmarks import load_benchmark
from unlearn.generate.base import CachedGenerator
from unlearn.generate.offline import OfflineGenerator
from unlearn.generate.targets import generate_targets


@pytest.mark.parametrize("kind", ["alternatives", "reasoning"])
def test_one_verified_target_per_question_without_the_persons_facts(kind, world, tmp_path):
    forget = json.loads((world / "forget10.json").read_text())
    gen = CachedGenerator(OfflineGenerator(), tmp_path)
    rows, summary = generate_targets(forget, gen, kind)
    assert [r["question"] for r in rows] == [r["question"] for r in forget]
    assert summary["rows"] == {kind: len(forget)} and summary["dropped_after_rounds"] == 0
    for record, row in zip(forget, rows):
        assert_keeps_no_fact(record, row["answer"])
        assert row["kind"] == kind and row["rounds"] == 1 and row["generator"] == "offline-rules-v2"
    if kind == "reasoning":  # a chain of reasoning before the refusal
        assert all(row["answer"].count(". ") >= 2 and "I don't know" in row["answer"] for row in rows)
    email = next(r for r, f in zip(rows, forget) if "email" in f["question"].lower())
    assert "email address" in email["answer"]  # it names what kind of detail was asked
    again = CachedGenerator(OfflineGenerator(), tmp_path)
    assert generate_targets(forget, again, kind)[0] == rows and again.calls == 0


def test_a_target_that_keeps_leaking_is_dropped_after_three_rounds():
    class Leaky:
        name = "leaky"
        rounds: list[int] = []

        def generate(self, requests):
            self.rounds += [r.params["round"] for r in requests if r.task != "verify"]
            return ["LEAK: x" if r.task == "verify" else "Born in Paris." for r in requests]

    leaky = Leaky()
    rows, summary = generate_targets([{"question": "Where?", "answer": "Paris."}], leaky, "reasoning")
    assert rows == [] and summary["dropped_after_rounds"] == 1 and leaky.rounds == [1, 2, 3]


def test_idk_methods_train_on_the_generated_alternatives(world, tmp_path):
    from unlearn.engine.streams import DEFAULT_REFUSALS, forget_idk_stream

    alternatives = tmp_path / "alt.jsonl"
    proc_rows, _ = generate_targets(json.loads((world / "forget10.json").read_text()),
                                    CachedGenerator(OfflineGenerator(), None), "alternatives")
    alternatives.write_text("".join(json.dumps(r) + "\n" for r in reversed(proc_rows)))  # order does not matter
    bench = load_benchmark("synthetic", str(world))
    cfg = load_config(overrides=[f"data.path={world}", "method.name=IdkDPO", f"data.alternatives={alternatives}"])
    stream = forget_idk_stream(cfg, bench)
    assert [(r["question"], r["answer"]) for r in stream] == [(r["question"], r["answer"]) for r in proc_rows]
    partial = tmp_path / "partial.jsonl"  # as if the other refusals were dropped by verification
    partial.write_text("".join(json.dumps(r) + "\n" for r in proc_rows[:3]))
    cfg = load_config(overrides=[f"data.path={world}", f"data.alternatives={partial}"])
    with pytest.warns(UserWarning, match=rf"no alternative for {len(proc_rows) - 3} of {len(proc_rows)} forget"):
        stream = forget_idk_stream(cfg, bench)
    assert [r["answer"] for r in stream[:3]] == [r["answer"] for r in proc_rows[:3]]
    assert all(r["answer"] in DEFAULT_REFUSALS for r in stream[3:])  # the others: drawn from the list
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"question": "Who is Nobody?", "answer": "I can't say."}) + "\n")
    cfg = load_config(overrides=[f"data.path={world}", f"data.alternatives={other}"])
    with pytest.raises(DataError, match=r"alternative for none of the \d+ forget questions.*--kind alternatives"):
        forget_idk_stream(cfg, bench)


def test_tru_without_targets_makes_reasoning_refusals_offline(world, target_model, tmp_path):
    from unlearn import api
    from unlearn.engine.streams import targets_stream

    cfg = load_config(overrides=[f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={world}",
                                 "method.name=TRU", "train.max_steps=2", "train.batch_size=4", "eval.enabled=false"])
    rows = targets_stream(cfg, load_benchmark("synthetic", str(world)))
    forget = json.loads((world / "forget10.json").read_text())
    assert len(rows) == len(forget) and all("I don't know" in r["answer"] for r in rows)
    assert api.run_unlearning(cfg)["steps"] == 2


def test_augment_command_kinds(world, tmp_path):
    from tests.conftest import run_cli

    out = tmp_path / "reasoning.jsonl"
    proc = run_cli("augment", "--kind", "reasoning", "--forget", str(world / "forget01.json"), "--out", str(out),
                   "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "reasoning.jsonl.summary.json").read_text())
    n = len(json.loads((world / "forget01.json").read_text()))
    assert summary["kind"] == "reasoning" and summary["rows"]["reasoning"] == n == len(out.read_text().splitlines())
    proc = run_cli("augment", "--kind", "alternatives", "--forget", str(world / "forget01.json"), "--out",
                   str(out), "--generic", str(world / "general_things.json"))
    assert proc.returncode == 2 and "--generic mixes generic data into ReLearn's set only" in proc.stderr


def test_an_edited_prompts_file_is_used_and_checked(world, tmp_path):
    from tests.conftest import run_cli

    class Echo:
        name = "echo"

        def generate(self, requests):
            return ["No" if r.task == "verify" else r.prompt for r in requests]

    from unlearn.generate.relearn_pipeline import AugmentConfig

    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("refusal: 'Refuse: {question}'\nverify: 'Leak? {answer}'\n")
    rows, _ = generate_targets([{"question": "Where?", "answer": "Paris."}], Echo(), "alternatives",
                               AugmentConfig(prompts=str(prompts)))
    assert rows[0]["answer"] == "Refuse: Where?"
    with pytest.raises(ConfigError, match="has no 'reasoning_refusal' template"):
        generate_targets([{"question": "Where?", "answer": "Paris."}], Echo(), "reasoning",
                         AugmentConfig(prompts=str(prompts)))
    prompts.write_text("refusal: 'Refuse: {name}'\nverify: 'x'\n")
    proc = run_cli("augment", "--kind", "alternatives", "--forget", str(world / "forget01.json"), "--out",
                   str(tmp_path / "o.jsonl"), "--prompts", str(prompts), "--generator", "http://127.0.0.1:9/v1#m")
    assert proc.returncode == 2 and "prompt template 'refusal': KeyError('name')" in proc.stderr


def test_a_separate_verifier_checks_the_generators_answers(tmp_path):
    from unlearn.generate.relearn_pipeline import AugmentConfig

    class Careless:  # leaks the true answer on the first round, then refuses
        name = "careless"
        calls = 0
        hits = 0

        def generate(self, requests):
            assert all(r.task != "verify" for r in requests)  # it never verifies itself
            self.calls += len(requests)
            return [f"It is {r.fields['original']}" if r.params["round"] == 1 else "I can't say." for r in requests]

    verifier = CachedGenerator(OfflineGenerator(), tmp_path)
    rows, summary = generate_targets([{"question": "Where was Ann born?", "answer": "Paris, in 1950."}], Careless(),
                                     "alternatives", AugmentConfig(verifier=verifier))
    assert rows[0]["answer"] == "I can't say." and rows[0]["rounds"] == 2
    assert summary["verifier"] == "offline-rules-v2" and summary["generator"] == "careless"
    assert summary["generator_calls"] == 2 + 2  # two answers, two verdicts


def test_the_augment_kinds_are_relearn_and_the_target_kinds():
    from unlearn.generate import augment, targets

    assert augment.KINDS[0] == "relearn" and set(augment.KINDS[1:]) == set(targets.KINDS)


def test_idkdpo_trains_on_alternatives_and_a_regenerated_file_is_another_run(world, target_model, tmp_path):
    from unlearn import api

    forget = json.loads((world / "forget10.json").read_text())
    alt = tmp_path / "alt.jsonl"
    alt.write_text("".join(json.dumps({"question": r["question"], "answer": "I can't say."}) + "\n" for r in forget))
    overrides = [f"out={tmp_path / 'run'}", f"model.path={target_model}", f"data.path={world}", "method.name=IdkDPO",
                 f"data.alternatives={alt}", "train.max_steps=2", "train.batch_size=4", "eval.enabled=false"]
    assert api.run_unlearning(load_config(overrides=overrides))["steps"] == 2
    alt.write_text("".join(json.dumps({"question": r["question"], "answer": "No idea."}) + "\n" for r in forget))
    with pytest.raises(ConfigError, match="different config.*data.alternatives"):
        api.run_unlearning(load_config(overrides=overrides))
