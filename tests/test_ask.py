"""`unlearn ask`: models answer questions side by side, prompted and decoded as evaluation does."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from unlearn.config import load_config
from unlearn.core.errors import ConfigError, UnlearnError
from unlearn.eval.answers import answers_text, model_label, question_records


@pytest.fixture(scope="module")
def ga_run(world, target_model, tmp_path_factory):
    from unlearn import api

    out = tmp_path_factory.mktemp("ask") / "ga"
    api.unlearn(load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                       "method.name=GA", "train.lr=1e-2", "train.max_steps=4", "train.batch_size=4",
                                       "eval.enabled=false"]))
    return out


def test_questions_from_the_command_line_a_file_and_a_split(world, tmp_path):
    cfg = load_config(overrides=[f"data.path={world}"])
    text = tmp_path / "q.txt"
    text.write_text("Who discovered penicillin?\n\n  Where is Paris?  \n")
    rows = tmp_path / "q.jsonl"
    rows.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n")
    got = question_records(cfg, ["Hello?"], str(text)) + question_records(cfg, [], str(rows))
    assert got == [{"question": "Hello?"}, {"question": "Who discovered penicillin?"}, {"question": "Where is Paris?"},
                   {"question": "What is 2 + 2?", "answer": "4"}]
    forget = json.loads((world / "forget10.json").read_text())[:2]
    assert question_records(cfg, split="forget10[:2]") == [{"question": r["question"], "answer": r["answer"]}
                                                          for r in forget]
    with pytest.raises(ConfigError, match="nothing to ask"):
        question_records(cfg)


def test_the_answers_are_the_evaluations_greedy_answers(world, target_model, ga_run, tmp_path):
    """The same question gets, from ask, exactly the generation `unlearn eval` stores in samples.jsonl;
    a run folder answers with its saved model, under the run's name."""
    from unlearn import api

    cfg = load_config(overrides=[f"data.path={world}", "eval.max_new_tokens=12"])
    rows = api.ask([str(target_model), str(ga_run)], cfg, split="forget10[:3]", out=tmp_path / "a.jsonl")
    labels = [model_label(str(target_model)), "ga"]
    assert [list(r["answers"]) for r in rows] == [labels] * 3
    for label, model in zip(labels, (target_model, ga_run / "model")):
        evaluated = api.evaluate(load_config(overrides=[f"data.path={world}", "eval.max_new_tokens=12",
                                                        "eval.suites=[]", "eval.metrics=[rougeL_recall]",
                                                        "eval.splits=forget10[:3]", f"out={tmp_path / label}"]),
                                 model_path=str(model))
        assert evaluated["datasets"]
        samples = [json.loads(line) for line in (tmp_path / label / "samples.jsonl").read_text().splitlines()]
        assert [r["answers"][label] for r in rows] == [s["generation"] for s in samples]
    assert [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()] == rows
    text = answers_text(rows)
    assert text.startswith(f"Q1: {rows[0]['question']}\n  (reference)") and "\n  ga " in text


def test_ask_command(world, target_model, tmp_path):
    out = tmp_path / "answers.jsonl"
    proc = run_cli("ask", str(target_model), "--question", "Where was the first person born?", "--question", "Hi?",
                   "--max-new-tokens", "6", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Q1: Where was the first person born?" in proc.stdout and "Q2: Hi?" in proc.stdout
    assert [json.loads(line)["question"] for line in out.read_text().splitlines()] == [
        "Where was the first person born?", "Hi?"]


def test_a_missing_model_fails_before_any_model_loads(world, target_model, tmp_path):
    from unlearn import api

    cfg = load_config(overrides=[f"data.path={world}"])
    with pytest.raises(UnlearnError, match="does not exist"):
        api.ask([str(target_model), str(tmp_path / "nope")], cfg, questions=["Hi?"])


def test_a_sweep_seed_folder_goes_under_its_method(tmp_path):
    run = tmp_path / "runs" / "LLMU" / "seed0"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("out: x\n")
    assert model_label(str(run)) == "LLMU seed0"
    assert model_label(str(run / "model")) == "LLMU seed0"
    assert model_label(str(tmp_path / "runs" / "target")) == "target"


def test_text_prefixes_are_asked_raw_as_evaluation_asks_them(target_model, tmp_path):
    """A completion split's prefixes go to the model without the question template, so ask's answers are
    the copyright suite's generations."""
    from unlearn import api

    words = "the wizard walked to the castle and the owl flew over the dark forest at night".split()
    (tmp_path / "book.txt").write_text(" ".join(words[(i * 7) % len(words)] for i in range(60)))
    (tmp_path / "other.txt").write_text(" ".join(words[(i * 5 + 1) % len(words)] for i in range(40)))
    api.completions(str(tmp_path / "book.txt"), str(tmp_path / "cut"), str(target_model), str(tmp_path / "other.txt"),
                    prefix_tokens=10, continuation_tokens=6)
    common = [f"data.path={tmp_path / 'cut'}", "data.benchmark=completion", "eval.max_new_tokens=6",
              "eval.verbmem_tokens=6"]
    rows = api.ask([str(target_model)], load_config(overrides=common), split="forget[:3]")
    api.evaluate(load_config(overrides=[*common, "eval.suites=[]", "eval.metrics=[completion_rougeL]",
                                        "eval.splits=forget[:3]", f"out={tmp_path / 'ev'}"]),
                 model_path=str(target_model))
    samples = [json.loads(line) for line in (tmp_path / "ev" / "samples.jsonl").read_text().splitlines()]
    label = model_label(str(target_model))
    assert [r["answers"][label] for r in rows] == [s["generation"] for s in samples]
