"""MUSE and WMDP-style folders through training and the evaluator on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn import api
from unlearn.config import load_config
from unlearn.data.benchmarks import load_benchmark
from unlearn.eval.evaluator import evaluate_model
from unlearn.models import load_model, load_tokenizer


def _json(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))


def _muse_from_world(world: Path, root: Path) -> Path:
    """A MUSE-layout folder whose texts are the synthetic world's facts."""
    forget = json.loads((world / "forget10.json").read_text())
    retain = json.loads((world / "retain90.json").read_text())[:12]
    holdout = json.loads((world / "holdout10.json").read_text())
    text = [f"{r['question']} {r['answer']}" for r in forget]
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "forget.txt").write_text("\n\n".join(text) + "\n")
    _json(root / "raw" / "retain1.json", [f"{r['question']} {r['answer']}" for r in retain])
    _json(root / "knowmem" / "forget_qa.json", [{"question": r["question"], "answer": r["answer"]} for r in forget])
    _json(root / "knowmem" / "retain_qa.json", [{"question": r["question"], "answer": r["answer"]} for r in retain])
    _json(root / "verbmem" / "forget.json", [{"prompt": r["question"], "gt": " " + r["answer"]} for r in forget])
    _json(root / "privleak" / "forget.json", text)
    _json(root / "privleak" / "holdout.json", [f"{r['question']} {r['answer']}" for r in holdout])
    _json(root / "privleak" / "retain.json", [f"{r['question']} {r['answer']}" for r in retain])
    return root


@pytest.fixture(scope="module")
def muse(world, tmp_path_factory) -> Path:
    return _muse_from_world(world, tmp_path_factory.mktemp("muse") / "news")


def test_muse_suite_against_itself(muse, target_model, tmp_path):
    cfg = load_config(overrides=[f"data.path={muse}", "data.benchmark=muse", "eval.suites=muse",
                                 "eval.max_new_tokens=10", "eval.cache=false", f"model.path={target_model}"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, samples = evaluate_model(model, tok, cfg, retain_model=model)
    m = metrics["metrics"]
    for key in ("verbmem_forget", "knowmem_forget", "knowmem_retain", "mia_min_k_auc"):
        assert m[key] is not None and 0.0 <= m[key] <= 1.0, key
    assert m["privleak_min_k"] == pytest.approx(0.0)  # the same model as its own retain model
    assert metrics["directions"]["verbmem_forget"] == "lower is better"
    assert metrics["directions"]["knowmem_retain"] == "higher is better"
    text_rows = [s for s in samples if s["set"] == "privleak_forget"]
    assert text_rows and "mia_min_k" in text_rows[0] and "generation" not in text_rows[0]


def test_unlearning_on_muse_corpora_trains_on_raw_text(muse, target_model, tmp_path):
    cfg = load_config(overrides=[f"data.path={muse}", "data.benchmark=muse", f"model.path={target_model}",
                                 f"out={tmp_path / 'run'}", "method.name=GA_GDR", "train.max_steps=2",
                                 "train.batch_size=2", "eval.enabled=false"])
    result = api.run_unlearning(cfg)
    assert Path(result["model_dir"], "config.json").is_file()
    bench = load_benchmark("muse", str(muse))
    assert all(r.get("raw") for r in bench.load("forget"))


def test_multiple_choice_accuracy_on_a_wmdp_style_folder(target_model, tmp_path):
    root = tmp_path / "wmdp"
    rows = [{"question": f"Which number is {n}?", "choices": [str(n), str(n + 1), "x", "y"], "answer": 0}
            for n in range(6)]
    _json(root / "wmdp-bio.json", rows)
    cfg = load_config(overrides=[f"data.path={root}", "data.benchmark=wmdp", "eval.suites=general",
                                 "eval.cache=false", f"model.path={target_model}"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, samples = evaluate_model(model, tok, cfg)
    acc = metrics["metrics"]["wmdp-bio_mc_accuracy"]
    assert acc in {k / 6 for k in range(7)}
    assert sum(s["mc_accuracy"] for s in samples) == pytest.approx(acc * 6)
    assert metrics["directions"]["wmdp-bio_mc_accuracy"] == "lower is better"  # a hazard set: forget


def test_muse_as_muse_runs_it(world, target_model, tmp_path, monkeypatch):
    """On MUSE-shaped files the project makes: KnowMem asks each question after the _icl examples and
    generates 32 tokens, VerbMem 128; an empty raw document is skipped with a warning; the raw corpus trains
    in blocks of data.max_length tokens; after `unlearn unlearn` the default evaluation is the muse suite."""
    from unlearn.core.errors import UnlearnWarning
    from unlearn.eval import evaluator as ev

    root = _muse_from_world(world, tmp_path / "news")
    icl = [{"question": "What colour is the sky?", "answer": "Blue."}, {"question": "Two and two?", "answer": "Four."}]
    _json(root / "knowmem" / "forget_qa_icl.json", icl)
    docs = json.loads((root / "raw" / "retain1.json").read_text())
    _json(root / "raw" / "retain1.json", [*docs[:3], "", *docs[3:]])

    bench = load_benchmark("muse", str(root))
    knowmem = next(d for d in bench.eval_data() if d.name == "knowmem_forget")
    context = "Question: What colour is the sky?\nAnswer: Blue.\n\nQuestion: Two and two?\nAnswer: Four.\n\n"
    assert all(r["context"] == context for r in knowmem.records)
    with pytest.warns(UnlearnWarning, match="1 empty documents of 13 skipped"):
        assert len(bench.load("retain1")) == 12

    lengths: dict[int, list[str]] = {}
    real = ev.Evaluator.generations

    def recording(self, prompts, max_new_tokens=None):
        texts = [self.tokenizer.decode(p) for p in prompts.values()]
        lengths.setdefault(max_new_tokens, []).extend(texts)
        return real(self, prompts, max_new_tokens)

    monkeypatch.setattr(ev.Evaluator, "generations", recording)
    cfg = load_config(overrides=[f"data.path={root}", "data.benchmark=muse", f"model.path={target_model}",
                                 f"out={tmp_path / 'run'}", "method.name=GA_GDR", "train.max_steps=2",
                                 "train.batch_size=2", "data.max_length=32", "eval.cache=false"])
    result = api.run_unlearning(cfg)
    tok = load_tokenizer(cfg.model)
    assert result["metrics"]["suites"] == ["muse"]  # eval.suites=auto on MUSE
    assert {"verbmem_forget", "knowmem_forget"} <= set(result["metrics"]["metrics"])
    assert set(lengths) == {32, 128}
    forget_qa = json.loads((root / "knowmem" / "forget_qa.json").read_text())
    with_icl = [t for t in lengths[32] if t.removeprefix(tok.bos_token or "").startswith(context)]
    # every forget KnowMem prompt opens with the examples (retain has none); the original model is asked too
    assert len(set(with_icl)) == len(forget_qa)
    assert len(set(lengths[128])) == len(json.loads((root / "verbmem" / "forget.json").read_text()))

    from unlearn.engine.training_data import text_chunks

    docs = [r["answer"] for r in bench.load("forget")]
    stream = tok("\n\n".join(docs), add_special_tokens=False)["input_ids"]
    chunks = text_chunks(tok, docs, 32)
    assert len(chunks) == -(-len(stream) // 31)  # blocks of 31 tokens after the bos
    assert all(c["input_ids"][0] == tok.bos_token_id and len(c["input_ids"]) == 32 for c in chunks)
    assert [t for c in chunks[:-1] for t in c["labels"][1:]] == stream[:31 * (len(chunks) - 1)]
    tail = stream[31 * (len(chunks) - 1):]
    assert chunks[-1]["labels"][1:] == (tail + stream)[:31]  # the last block filled from the start


def test_a_muse_folder_without_verbmem_and_privleak_says_what_it_could_not_compute(world, target_model, tmp_path):
    root = _muse_from_world(world, tmp_path / "news")
    for sub in ("verbmem", "privleak"):
        for f in (root / sub).iterdir():
            f.unlink()
        (root / sub).rmdir()
    cfg = load_config(overrides=[f"data.path={root}", "data.benchmark=muse", "eval.max_new_tokens=4",
                                 "eval.cache=false", f"model.path={target_model}"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, _ = evaluate_model(model, tok, cfg)
    assert metrics["metrics"]["knowmem_forget"] is not None
    assert metrics["notes"]["verbmem"].startswith("not computed: no completion")
    assert "holdout partner" in metrics["notes"]["mia_min_k_auc"]
