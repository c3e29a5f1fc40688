"""The copyright suite: BLEU and the forget-quality gap against hand-worked values, corpus perplexity,
and the suite on the tiny model with a retain model."""

from __future__ import annotations

import math

import pytest

from unlearn.eval.metrics.copyright import bleu, corpus_perplexity, fq_gap


def test_bleu_of_a_hand_worked_pair():
    # hypothesis "the cat sat on the mat", reference "the cat sat on a mat" (6 tokens each, brevity penalty 1):
    # clipped n-gram precisions 5/6, 3/5, 2/4, 1/3; BLEU = 100 * (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = 53.7285
    assert bleu("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(53.7285, abs=1e-3)
    assert bleu("the cat sat on a mat", "the cat sat on a mat") == pytest.approx(100.0)
    assert bleu("", "the cat sat on a mat") == 0.0


def test_bleu_brevity_penalty():
    # "the cat sat on" against "the cat sat on a mat": every n-gram precision is 1 (4/4, 3/3, 2/2, 1/1), so
    # BLEU is the brevity penalty alone: 100 * exp(1 - 6/4) = 60.653
    assert bleu("the cat sat on", "the cat sat on a mat") == pytest.approx(100 * math.exp(-0.5), abs=1e-3)


def test_fq_gap_is_the_sum_of_absolute_differences_on_flats_scales():
    assert fq_gap(30.0, 0.4, 10.0, 0.1) == pytest.approx(20.3)
    assert fq_gap(10.0, 0.1, 30.0, 0.4) == pytest.approx(20.3)  # below the retained model counts the same
    # FLAT's table 3: GA and KL generate nothing and share the gap 2.7301 = the retained BLEU + ROUGE-L
    assert fq_gap(0.0, 0.0, 2.7, 0.0301) == pytest.approx(2.7301)


def test_corpus_perplexity_weighs_every_token_alike():
    # texts with NLL sums 2 (1 token) and 4 (3 tokens): exp(6 / 4), not the mean of e^2 and e^(4/3)
    assert corpus_perplexity([2.0, 4.0], [1, 3]) == pytest.approx(math.exp(1.5))
    with pytest.raises(ValueError):
        corpus_perplexity([], [])


def test_copyright_suite_on_the_tiny_model_with_itself_as_retain_model(target_model, tmp_path):
    from unlearn import api
    from unlearn.config import load_config
    from unlearn.eval.evaluator import evaluate_model
    from unlearn.models import load_model, load_tokenizer

    words = "the wizard walked to the castle and the owl flew over the dark forest at night".split()
    (tmp_path / "book.txt").write_text(" ".join(words[(i * 7) % len(words)] for i in range(80)))
    (tmp_path / "other.txt").write_text(" ".join(words[(i * 5 + 1) % len(words)] for i in range(60)))
    (tmp_path / "wiki.txt").write_text("Rivers run to the sea.\n\nMountains are tall and cold.")
    api.completions(str(tmp_path / "book.txt"), str(tmp_path / "cut"), str(target_model), str(tmp_path / "other.txt"),
                    general=str(tmp_path / "wiki.txt"), prefix_tokens=10, continuation_tokens=5)
    cfg = load_config(overrides=[f"data.path={tmp_path / 'cut'}", "data.benchmark=completion", "eval.verbmem_tokens=5",
                                 "eval.cache=false", f"model.path={target_model}"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, samples = evaluate_model(model, tok, cfg, retain_model=model)
    m = metrics["metrics"]
    assert 0.0 <= m["forget_completion_bleu"] <= 100.0 and 0.0 <= m["forget_completion_rougeL"] <= 1.0
    assert m["fq_gap"] == pytest.approx(0.0)  # the same model as its own retain model
    assert metrics["directions"]["fq_gap"] == "lower is better"
    assert metrics["directions"]["general_text_ppl"] == "lower is better"
    rows = [s for s in samples if s["set"] == "general"]
    nll, tokens = sum(r["text_ppl"][0] for r in rows), sum(r["text_ppl"][1] for r in rows)
    assert m["general_text_ppl"] == pytest.approx(math.exp(nll / tokens))
    forget = [s for s in samples if s["set"] == "forget"]
    assert sum(s["completion_bleu"] for s in forget) / len(forget) == pytest.approx(m["forget_completion_bleu"])


def test_fq_gap_reads_the_retain_models_evaluation_of_the_same_completions():
    from unlearn.core.errors import DataError
    from unlearn.eval.metrics import DERIVED
    from unlearn.eval.results import DerivedContext, ModelResults

    def results(bleu_value, rouge, ids):
        return ModelResults(ids={"forget": ids}, roles={"forget": "forget"},
                            values={"forget_completion_bleu": bleu_value, "forget_completion_rougeL": rouge})

    gap = DERIVED.get("fq_gap").compute
    ctx = DerivedContext(results(30.0, 0.4, ["a", "b"]), results(10.0, 0.1, ["b", "a"]))
    assert gap(ctx)["fq_gap"][0] == pytest.approx(20.3)
    no_reference = DerivedContext(results(30.0, 0.4, ["a", "b"]))
    assert gap(no_reference)["fq_gap"][0] is None and "--retain-model" in no_reference.notes["fq_gap"]
    with pytest.raises(DataError, match="other samples"):
        gap(DerivedContext(results(30.0, 0.4, ["a", "b"]), results(10.0, 0.1, ["a", "c"])))
