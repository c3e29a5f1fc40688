"""The evaluator's definitions on hand-made numbers: per-token statistics, TOFU's truth ratio,
probability and model utility from known log-probs, the KS p-value, directions and suites."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.core.errors import ConfigError, DataError
from unlearn.eval.metrics import METRICS
from unlearn.eval.metrics import tofu as M
from unlearn.eval.passes import token_statistics
from unlearn.eval.registry import SampleView
from unlearn.eval.results import DerivedContext, ModelResults, check_same_samples, compute_derived
from unlearn.eval.suites import select


def test_token_statistics_by_hand():
    # Vocabulary of 3; logits (0, 0, ln 2) give p = (1/4, 1/4, 1/2).
    # mu = sum p log p = 0.5 ln(1/4) + 0.5 ln(1/2) = -1.0397208; E[(log p)^2] = 0.5 (ln 4)^2 + 0.5 (ln 2)^2
    # = 1.2011325, var = 1.2011325 - 1.0810195 = 0.1201130, sigma = 0.3465736 = ln(2) / 2.
    # Target 2: (ln 0.5 - mu) / sigma = (-0.6931472 + 1.0397208) / 0.3465736 = +1; target 0: -1.
    row = torch.tensor([0.0, 0.0, math.log(2.0)])
    logits = row.repeat(1, 3, 1)
    labels = torch.tensor([[-100, 2, 0]])
    stats = token_statistics(logits.to(torch.bfloat16), labels)
    mask = stats["mask"][0]
    assert mask.tolist() == [True, True]
    assert stats["logp"][0][mask].tolist() == pytest.approx([math.log(0.5), math.log(0.25)], abs=1e-2)
    assert stats["argmax"][0][mask].tolist() == [True, False]
    assert stats["mink_pp"][0][mask].tolist() == pytest.approx([1.0, -1.0], abs=2e-2)
    stats32 = token_statistics(logits, labels)
    assert stats32["mink_pp"][0][mask].tolist() == pytest.approx([1.0, -1.0], abs=1e-5)


def test_min_k_plus_plus_variance_is_stable_near_uniform():
    """A near-uniform distribution over 50,000 tokens: log p_v = -ln(50000) + eps_v with eps tiny, so the
    variance of log p is about var(eps), 1e-12 against mu^2 ~ 117: E[x^2] - mu^2 in float32 loses it
    entirely. The expected z-score comes from float64 numpy, independently of the function."""
    import numpy as np

    rng = np.random.default_rng(0)
    vocab = 50_000
    z = rng.normal(0.0, 1e-3, vocab)
    logits = torch.tensor(z, dtype=torch.float32).repeat(1, 2, 1)
    labels = torch.tensor([[-100, 7]])
    logp = z.astype(np.float32).astype(np.float64)
    logp = logp - np.log(np.exp(logp - logp.max()).sum()) - logp.max()
    p = np.exp(logp)
    mu = (p * logp).sum()
    sigma = math.sqrt((p * (logp - mu) ** 2).sum())
    expected = (logp[7] - mu) / sigma
    got = token_statistics(logits, labels)["mink_pp"][0][0].item()  # position 0 predicts token 1
    assert got == pytest.approx(expected, rel=1e-3)


def _view(role: str, answer: list[float], paraphrased: list[float] | None, perturbed: list[list[float]]) -> SampleView:
    seqs = {"answer": {"token_logps": answer}}
    if paraphrased is not None:
        seqs["paraphrased"] = {"token_logps": paraphrased}
    for j, p in enumerate(perturbed):
        seqs[f"perturbed/{j}"] = {"token_logps": p}
    return SampleView(0, {"question": "q", "answer": "a"}, role, "qa", seqs)


def test_truth_ratio_and_probability_from_known_log_probs():
    # P(answer) = e^-1 (one token), P(paraphrase) = e^-0.5 (two tokens of -0.5: length-normalised),
    # P(perturbed) = e^-2, e^-3. Forget: R = sqrt(e^-2 e^-3) / e^-0.5 = e^-2 = 0.1353353, reported min(R, 1/R).
    forget = _view("forget", [-1.0], [-0.5, -0.5], [[-2.0], [-3.0]])
    assert METRICS.get("truth_ratio_raw").compute([forget], None) == pytest.approx([0.1353353])
    assert METRICS.get("truth_ratio").compute([forget], None) == pytest.approx([0.1353353])
    assert METRICS.get("prob").compute([forget], None) == pytest.approx([math.exp(-1.0)])
    # Swapping the answer's and the paraphrase's scores must change the result: R = e^-2.5 / e^-1.
    swapped = _view("forget", [-0.5, -0.5], [-1.0], [[-2.0], [-3.0]])
    assert METRICS.get("truth_ratio_raw").compute([swapped], None) == pytest.approx([math.exp(-1.5)])
    # open-unlearning's prob_mean: P(paraphrase) / (P(paraphrase) + P(perturbed, geometric mean))
    # = e^-0.5 / (e^-0.5 + e^-2.5) = 1 / (1 + e^-2) = 0.8807971.
    assert METRICS.get("truth_ratio_prob_mean").compute([forget], None) == pytest.approx([0.8807971])
    # Retain: max(0, 1 - R) = 1 - e^-2 = 0.8646647.
    retain = _view("retain", [-1.0], [-0.5, -0.5], [[-2.0], [-3.0]])
    assert METRICS.get("truth_ratio").compute([retain], None) == pytest.approx([0.8646647])
    # General (real authors / world facts): R against the original answer: e^-2.5 / e^-1 = e^-1.5 = 0.2231302,
    # reported 1 - R = 0.7768698; probability normalised e^-1 / (e^-1 + e^-2 + e^-3) = 0.6652410.
    general = _view("general", [-1.0], None, [[-2.0], [-3.0]])
    assert METRICS.get("truth_ratio").compute([general], None) == pytest.approx([0.7768698])
    assert METRICS.get("prob").compute([general], None) == pytest.approx([0.6652410])


def test_model_utility_is_the_harmonic_mean_of_nine_numbers():
    values = {}
    for name, v in (("retain", 0.5), ("real_authors", 1.0), ("world_facts", 0.25)):
        for m in ("prob", "rougeL_recall", "truth_ratio"):
            values[f"{name}_{m}"] = v
    values["forget_prob"] = 0.9  # never part of utility
    roles = {"retain": "retain", "real_authors": "general", "world_facts": "general", "forget": "forget"}
    ctx = DerivedContext(ModelResults(values=values, roles=roles))
    # 9 / (3 * 2 + 3 * 1 + 3 * 4) = 9 / 21
    assert compute_derived(["model_utility"], ctx)["model_utility"][0] == pytest.approx(9 / 21)


def test_forget_quality_ks_p_value_by_hand():
    # Completely separated samples of 3 and 3: D = 1; exact two-sided p = 2 / C(6, 3) = 0.1.
    assert M.forget_quality([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)
    model = ModelResults(ids={"forget": ["a", "b", "c"]}, per_sample={"forget": {"truth_ratio_raw": [1.0, 2.0, 3.0]}},
                         roles={"forget": "forget"})
    ref = ModelResults(ids={"forget": ["c", "a", "b"]}, per_sample={"forget": {"truth_ratio_raw": [4.0, 5.0, 6.0]}},
                       source="ref")
    out = compute_derived(["forget_quality"], DerivedContext(model, ref))
    assert out["forget_quality"][0] == pytest.approx(0.1)


def test_a_reference_evaluated_on_other_samples_is_refused():
    model = ModelResults(ids={"forget": ["a", "b", "c"]}, per_sample={"forget": {"truth_ratio_raw": [1.0, 2.0, 3.0]}},
                         roles={"forget": "forget"})
    ref = ModelResults(ids={"forget": ["a", "b", "x"]}, per_sample={"forget": {"truth_ratio_raw": [4.0, 5.0, 6.0]}},
                       source="runs/retain-eval")
    with pytest.raises(DataError, match="other samples of 'forget'.*2 in common") as err:
        compute_derived(["forget_quality"], DerivedContext(model, ref))
    assert "\n" not in str(err.value) and "same data file and slice" in str(err.value)
    with pytest.raises(DataError, match="no results on set 'holdout'"):
        check_same_samples(DerivedContext(model, ref), "holdout", "privleak_loss")


def test_privleak_and_auc_directions():
    # Forget scores all above holdout scores: AUC 1 for the model; the retain model's AUC is 0.5.
    model = ModelResults(per_sample={"forget": {"mia_loss": [3.0, 4.0]}, "holdout": {"mia_loss": [1.0, 2.0]}},
                         ids={"forget": ["a", "b"], "holdout": ["c", "d"]}, roles={"forget": "forget", "holdout": "holdout"})
    ref = ModelResults(per_sample={"forget": {"mia_loss": [1.0, 4.0]}, "holdout": {"mia_loss": [2.0, 3.0]}},
                       ids={"forget": ["a", "b"], "holdout": ["c", "d"]}, source="ref")
    out = compute_derived(["mia_loss_auc"], DerivedContext(model, ref))
    auc, direction = out["mia_loss_auc"]
    assert auc == pytest.approx(1.0) and direction.kind == "target" and direction.target == pytest.approx(0.5)
    # ((1 - 1) - (1 - 0.5)) / (1 - 0.5) * 100 = -100; best is 0.
    leak, direction = out["privleak_loss"]
    assert leak == pytest.approx(-100.0) and direction.label() == "closest to 0"


def test_suites_and_metric_names_are_checked():
    selection = select(["tofu", "privacy"], ["mia_gradnorm"])
    assert {"prob", "truth_ratio", "mia_min_k_pp", "mia_gradnorm"} <= set(selection.metrics)
    assert selection.derived[:2] == ["forget_quality", "model_utility"]
    # every membership score brings its AUC (and PrivLeak): its summary
    assert {f"mia_{a}_auc" for a in ("loss", "zlib", "min_k", "min_k_pp", "gradnorm")} <= set(selection.derived)
    assert "mia_reference" in select(["privacy"], [], reference_model=True).metrics
    with pytest.raises(ConfigError, match="unknown suite 'tofo'; valid: tofu, muse"):
        select(["tofo"], [])
    with pytest.raises(ConfigError, match="unknown metric 'rouge'; valid:"):
        select(["tofu"], ["rouge"])


def test_a_name_asked_for_alone_brings_what_it_needs():
    """A derived metric brings the metrics it reads; a per-sample score brings its summary."""
    utility = select([], ["model_utility"])
    assert utility.metrics == ["prob", "rougeL_recall", "truth_ratio"] and utility.derived == ["model_utility"]
    ls = select([], ["linguistic_score"])
    assert ls.metrics == ["gen_ppl", "brunet_index", "honore_statistic"] and ls.derived == ["linguistic_score"]
    assert select([], ["forget_quality"]).metrics == ["truth_ratio_raw"]
    assert select([], ["mia_zlib"]).derived == ["mia_zlib_auc"]
    assert select([], ["prob"]).derived == []


def test_directions_say_which_way_is_better():
    assert METRICS.get("prob").direction("forget").label() == "lower is better"
    assert METRICS.get("prob").direction("retain").higher_is_better() is True
    assert METRICS.get("kfr").direction("forget").higher_is_better() is True
    assert METRICS.get("gen_ppl").direction("retain").higher_is_better() is False


def test_verbmem_generates_and_scores_the_papers_lengths():
    """MUSE's VerbMem: 128 tokens generated after the prefix and scored against the true continuation's
    first 128 tokens. A model that continues the text word for word for 128 tokens scores 1.0 against the
    cut reference; against the whole 300-token continuation its ROUGE-L F1 would be 2*128/(128+300) = 0.598."""
    from types import SimpleNamespace

    from unlearn.eval.evaluator import Evaluator, Settings
    from unlearn.eval.metrics import METRICS

    class WordTokenizer:  # one token per word, so lengths are known by hand
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range(len(text.split())))}

        def decode(self, ids):
            return " ".join(f"w{i}" for i in ids)

    continuation = " ".join(f"w{i}" for i in range(300))
    data = SimpleNamespace(kind="completion", name="verbmem_forget", records=[{"question": "p", "answer": continuation}])
    qa = SimpleNamespace(kind="qa", name="forget", records=[{"question": "q", "answer": "a"}])
    plans = [SimpleNamespace(data=data, prompts=[[1, 2]], metrics=[METRICS.get("verbmem")]),
             SimpleNamespace(data=qa, prompts=[[3]], metrics=[METRICS.get("rougeL_recall")])]
    fake = SimpleNamespace(settings=Settings(max_new_tokens=200, verbmem_tokens=128), tokenizer=WordTokenizer(),
                           fmt=SimpleNamespace(bounded=lambda text, n: text))
    cut = Evaluator.cut_targets(fake, plans)
    assert cut == {("verbmem_forget", 0): " ".join(f"w{i}" for i in range(128))}
    asked: list[tuple[int, int]] = []
    fake.generations = lambda prompts, length: asked.append((len(prompts), length)) or {k: "" for k in prompts}
    Evaluator.all_generations(fake, plans)
    assert sorted(asked) == [(1, 128), (1, 200)]  # the completion prefix gets 128 tokens, the question 200
    verbatim = " ".join(f"w{i}" for i in range(128))
    view = SampleView(0, data.records[0], "forget", "completion", generation=verbatim, cut_target=cut[("verbmem_forget", 0)])
    assert METRICS.get("verbmem").compute([view], None) == [pytest.approx(1.0)]
    view.cut_target = None
    assert METRICS.get("verbmem").compute([view], None) == [pytest.approx(2 * 128 / (128 + 300))]


def test_an_answer_longer_than_the_context_is_scored_as_the_model_saw_it():
    """A 600-word answer with data.max_length 512 and a 2-token prompt: the sample keeps 512 - 2 - 1 = 509
    answer tokens (one for the end token), so ROUGE-L scores against those 509 words, with a warning."""
    from types import SimpleNamespace

    from unlearn.core.errors import UnlearnWarning
    from unlearn.eval.evaluator import Evaluator, Settings

    class WordTokenizer:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range(len(text.split())))}

        def decode(self, ids):
            return " ".join(f"w{i}" for i in ids)

    long = " ".join(f"w{i}" for i in range(600))
    qa = SimpleNamespace(kind="qa", name="forget", records=[{"question": "q", "answer": long},
                                                             {"question": "q2", "answer": "short"}])
    fake = SimpleNamespace(settings=Settings(max_length=512), tokenizer=WordTokenizer(),
                           fmt=SimpleNamespace(bounded=lambda text, n: text))
    with pytest.warns(UnlearnWarning, match=r"answers longer than the context \(512 tokens with the prompt\): 1;"):
        cut = Evaluator.cut_targets(fake, [SimpleNamespace(data=qa, prompts=[[1, 2], [3]])])
    assert cut == {("forget", 0): " ".join(f"w{i}" for i in range(509))}

