"""eval.end_token=dropped reproduces open-unlearning's per-token values on the same model and tokens: its
helpers score every target token but the last (the end token). The expected values are computed here from
the model's logits directly, in the reference framework's way, not with this package's metric functions."""

from __future__ import annotations

import pytest
import torch

from unlearn.config import load_config
from unlearn.data.tokenize import PromptFormatter
from unlearn.eval.evaluator import evaluate_model
from unlearn.models import load_model, load_tokenizer


def _reference_framework_values(model, tok, question: str, answer: str) -> dict[str, float]:
    """Exact memorisation and Min-40% over the answer's target tokens without the last one."""
    enc = PromptFormatter(tok).encode(question, answer, 512)
    ids, labels = torch.tensor([enc["input_ids"]]), torch.tensor([enc["labels"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].double()
    targets = labels[0, 1:]
    keep = (targets != -100).nonzero().flatten()[:-1]  # the helpers' [:-1]: the end token is left out
    logp = torch.log_softmax(logits, -1)[keep, targets[keep]]
    em = (logits[keep].argmax(-1) == targets[keep]).double().mean().item()
    n = max(1, int(len(logp) * 0.4))
    min_k = torch.sort(logp).values[:n].mean().item()  # open-unlearning negates it (loss-like): same ranking
    return {"exact_memorisation": em, "mia_min_k": min_k}


@pytest.mark.parametrize("end_token", ["dropped", "scored"])
def test_end_token_option_against_the_reference_frameworks_values(world, target_model, tmp_path, end_token):
    cfg = load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.suites=[]",
                                 "eval.metrics=exact_memorisation,mia_min_k", "eval.splits=forget,holdout",
                                 f"eval.end_token={end_token}", "eval.cache=false"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    metrics, samples = evaluate_model(model, tok, cfg)
    rows = [s for s in samples if s["set"] == "forget"][:5]
    matches = []
    for row in rows:
        expected = _reference_framework_values(model, tok, row["question"], row["answer"])
        matches.append(all(row[k] == pytest.approx(v, abs=2e-5) for k, v in expected.items()))
    # dropped: equal on every row; scored (the end token counted): not the reference framework's values
    assert all(matches) if end_token == "dropped" else not all(matches)
