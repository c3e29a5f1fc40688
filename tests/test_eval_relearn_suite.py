"""The relearn suite through the evaluator: KFR / KRR / LS with a scorer model and the packaged
embedder, and notes naming the parts that were missing."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.config import load_config
from unlearn.data.tokenize import PromptFormatter
from unlearn.eval.evaluator import Parts, evaluate_model
from unlearn.models import load_model, load_tokenizer


def test_relearn_suite(world, target_model):
    from unlearn.eval.backends import SentenceTransformerEmbedder

    cfg = load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.suites=relearn",
                                 "eval.splits=forget,retain", "eval.max_new_tokens=12", "eval.cache=false"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    parts = Parts(scorer_model=model, scorer_tokenizer=tok, embedder=SentenceTransformerEmbedder())
    metrics, samples = evaluate_model(model, tok, cfg, parts=parts)
    m = metrics["metrics"]
    assert 0.0 <= m["forget_kfr"] <= 1.0 and 0.0 <= m["retain_krr"] <= 1.0
    assert "forget_krr" not in m and "retain_kfr" not in m
    assert metrics["notes"]["kfr"] == (  # never silently substituted
        "computed without llm_extractor (entities by the offline rules; set eval.entity_model for the authors' "
        "LLM extraction), nli (no contradiction test, entities alone decide; set eval.nli_model)")
    assert 0.0 < m["forget_linguistic_score"] < 1.0
    # The scorer's perplexity of one generation after its question (ReLearn scores the answer so, with no
    # end token), checked against the model's own token-mean loss on those tokens, built by hand here.
    row = next(s for s in samples if s["set"] == "forget" and s["generation"].strip())
    prompt = PromptFormatter(tok).prompt_text(row["question"])
    joint = tok(prompt + row["generation"], return_offsets_mapping=True)
    ids = joint["input_ids"]  # a token counts as the answer's when its characters end after the prompt
    labels = [t if end > len(prompt) else -100 for t, (_, end) in zip(ids, joint["offset_mapping"])]
    assert labels[-1] != tok.eos_token_id and labels.count(-100) > 3
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
    assert row["gen_ppl"] == pytest.approx(math.exp(loss.item()), rel=1e-4)


def test_linguistic_score_says_it_needs_a_scorer(world, target_model):
    cfg = load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.suites=relearn",
                                 "eval.splits=retain", "eval.max_new_tokens=6", "eval.cache=false"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, _ = evaluate_model(model, tok, cfg)
    assert metrics["metrics"]["retain_linguistic_score"] is None
    assert "eval.scorer_model" in metrics["notes"]["retain_linguistic_score"]
    assert "embedder" in metrics["notes"]["krr"]
