"""The evaluator on the tiny model: one teacher-forced pass and one generation pass per dataset, a cache
that resumes an interrupted evaluation and is never served to a changed model, bfloat16."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn.config import load_config
from unlearn.core.cache import model_fingerprint
from unlearn.data.benchmarks import load_benchmark
from unlearn.eval.evaluator import evaluate_model
from unlearn.models import load_model, load_tokenizer


class Counter:
    """Counts the rows the model is run on: teacher-forced forward calls and generate calls apart; of the
    teacher-forced rows, prompts scored once for their answers (`prompt_rows`, a forward that returns its
    cache) apart from the rows that are scored."""

    def __init__(self, model, fail_after: int | None = None):
        self.model, self.fail_after = model, fail_after
        self.tf_rows: list[tuple] = []
        self.prompt_rows: list[tuple] = []
        self.gen_rows: list[tuple] = []
        self.tf_calls = 0
        self._in_generate = False
        self._forward, self._generate = model.forward, model.generate

        def forward(*args, **kwargs):
            if not self._in_generate:
                self.tf_calls += 1
                if self.fail_after is not None and self.tf_calls > self.fail_after:
                    raise KeyboardInterrupt("killed")
                ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
                prompts = kwargs.get("use_cache") and not any(k in kwargs for k in ("cache", "past_key_values"))
                if mask.shape[1] > ids.shape[1]:  # answers after a cached prompt: the mask covers both
                    mask = mask[:, -ids.shape[1]:]
                rows = [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask)]
                (self.prompt_rows if prompts else self.tf_rows).extend(rows)
            return self._forward(*args, **kwargs)

        def generate(*args, **kwargs):
            self._in_generate = True
            try:
                ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
                self.gen_rows += [tuple(r[m.bool()].tolist()) for r, m in zip(ids, mask)]
                return self._generate(*args, **kwargs)
            finally:
                self._in_generate = False

        model.forward, model.generate = forward, generate


def _cfg(world, tmp_path, **over):
    overrides = [f"data.path={world}", f"out={tmp_path / 'out'}", "eval.max_new_tokens=12", "eval.batch_size=16",
                 f"eval.cache_dir={tmp_path / 'cache'}", *[f"{k}={v}" for k, v in over.items()]]
    return load_config(overrides=overrides)


def _load(target_model):
    cfg = load_config(overrides=[f"model.path={target_model}"])
    return load_model(cfg.model).eval(), load_tokenizer(cfg.model)


def test_tofu_and_privacy_share_one_teacher_forced_and_one_generation_pass(world, target_model, tmp_path):
    model, tok = _load(target_model)
    count = Counter(model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy", "eval.cache": "false"})
    metrics, samples = evaluate_model(model, tok, cfg)
    bench = load_benchmark("synthetic", str(world))
    data = bench.eval_data()
    # Every scored sequence once: answer + paraphrase + perturbed answers for sets with alternatives; each
    # question's prompt once for all of them (the answers run after its cache).
    expected = sum(1 + (1 if r.get("paraphrased_answer") and d.role != "general" else 0)
                   + len(r.get("perturbed_answer") or []) for d in data for r in d.records)
    assert len(count.tf_rows) == expected
    assert 0 < len(count.prompt_rows) == len(set(count.prompt_rows))  # no prompt scored twice
    assert len(count.gen_rows) == sum(len(d.records) for d in data)  # each question generated once
    assert len(set(count.gen_rows)) == len({r["question"] for d in data for r in d.records})
    m = metrics["metrics"]
    for key in ("forget_prob", "forget_rougeL_recall", "forget_truth_ratio", "model_utility", "mia_loss_auc",
                "mia_min_k_pp_auc", "forget_exact_memorisation", "forget_extraction_strength"):
        assert m[key] is not None and 0.0 <= m[key] <= 1.0, key
    assert metrics["directions"]["forget_prob"] == "lower is better"
    assert metrics["directions"]["mia_loss_auc"] == "closest to 0.5"
    assert {s["set"] for s in samples} == {d.name for d in data}
    assert all(len(s["id"]) == 32 for s in samples)


def test_prompts_scored_once_give_the_metrics_of_a_pass_per_sequence(world, target_model, tmp_path, monkeypatch):
    """Every metric of the tofu and privacy suites with each prompt scored once for all its answers equals
    the plain pass's (one forward over each whole sequence) to 1e-5."""
    import dataclasses

    import unlearn.eval.evaluator as evaluator

    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy", "eval.cache": "false"})
    shared, _ = evaluate_model(model, tok, cfg)
    plain_settings = evaluator.settings_from_config
    monkeypatch.setattr(evaluator, "settings_from_config",
                        lambda c: dataclasses.replace(plain_settings(c), share_prompts=False))
    plain, _ = evaluate_model(model, tok, cfg)
    numbers = {k for k, v in plain["metrics"].items() if isinstance(v, float)}
    assert len(numbers) > 20
    for key in numbers:
        assert shared["metrics"][key] == pytest.approx(plain["metrics"][key], abs=1e-5), key


def test_interrupted_evaluation_resumes_from_the_cache_with_identical_results(world, target_model, tmp_path):
    """The resumed run plans its batches over every sample and skips those cached, so each remaining sample is
    scored in the batch it had in the straight run: the same values, bit for bit."""
    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy"})
    reference, _ = evaluate_model(model, tok, _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy",
                                                                       "eval.cache": "false"}))
    count = Counter(model, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(model, tok, cfg)
    done_rows = len(count.tf_rows)
    assert done_rows > 0
    model.forward, model.generate = count._forward, count._generate
    again = Counter(model)
    resumed, _ = evaluate_model(model, tok, cfg)
    assert resumed["metrics"] == reference["metrics"]
    assert not set(again.tf_rows) & set(count.tf_rows)  # cached samples were not recomputed
    model.forward, model.generate = again._forward, again._generate
    third = Counter(model)
    metrics, _ = evaluate_model(model, tok, cfg)
    assert metrics["metrics"] == reference["metrics"]
    assert third.tf_rows == [] and third.gen_rows == []  # everything came from the cache


def test_changing_one_weight_invalidates_the_cache(world, target_model, tmp_path):
    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu"})
    before, _ = evaluate_model(model, tok, cfg)
    fingerprint = model_fingerprint(model)
    with torch.no_grad():
        weight = model.get_output_embeddings().weight
        weight[0, 0] += 0.5
    assert model_fingerprint(model) != fingerprint
    count = Counter(model)
    after, _ = evaluate_model(model, tok, cfg)
    assert len(count.tf_rows) > 0 and len(count.gen_rows) > 0  # recomputed, not served old scores
    assert after["model_fingerprint"] != before["model_fingerprint"]


def test_bfloat16_evaluation_is_close_to_float32(world, target_model, tmp_path):
    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy", "eval.cache": "false", "eval.splits": "forget,retain"})
    m32, _ = evaluate_model(model, tok, cfg)
    m16, _ = evaluate_model(model.to(torch.bfloat16), tok, cfg)
    for key in ("forget_prob", "retain_prob", "forget_truth_ratio"):
        assert m16["metrics"][key] == pytest.approx(m32["metrics"][key], rel=0.1), key


def test_results_name_their_datasets_and_reference(world, target_model, tmp_path):
    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu", "eval.splits": "forget[:50%],retain"})
    metrics, samples = evaluate_model(model, tok, cfg)
    assert metrics["datasets"]["forget"]["samples"] == sum(1 for s in samples if s["set"] == "forget")
    assert metrics["notes"]["forget_quality"].startswith("needs the retain model")
    assert metrics["metrics"]["forget_quality"] is None
    json.dumps(metrics)  # everything is serialisable


def test_a_derived_metric_asked_for_alone_computes_its_inputs(world, target_model, tmp_path):
    """eval.metrics=[model_utility] with no suite: its three inputs on the retain and general sets are
    computed, and the utility is their harmonic mean (worked out here from the returned inputs)."""
    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "[]", "eval.metrics": "[model_utility]"})
    values = evaluate_model(model, tok, cfg)[0]["metrics"]
    sets = [d.name for d in load_benchmark("synthetic", str(world)).eval_data() if d.role in ("retain", "general")]
    parts = [values[f"{s}_{m}"] for s in sets for m in ("prob", "rougeL_recall", "truth_ratio")]
    assert len(sets) == 3 and all(p is not None and p >= 0 for p in parts)
    # the harmonic mean of the nine, 0 when one of them is 0 (as scipy.stats.hmean)
    expected = 0.0 if min(parts) == 0 else 9 / sum(1 / p for p in parts)
    assert values["model_utility"] == pytest.approx(expected)
    assert "forget_quality" not in values and not any(k.startswith("mia_") for k in values)


def test_progress_counts_samples_and_never_passes_100_percent(world, target_model, tmp_path, capsys):
    """Every distinct sequence scored and prompt answered is one sample of the progress: a fresh
    evaluation and a fully cached one both end at exactly total/total, never beyond."""
    import re

    model, tok = _load(target_model)
    cfg = _cfg(world, tmp_path, **{"eval.suites": "tofu,privacy", "train.progress_every": "0"})
    for _ in range(2):  # the second run is served from the cache
        capsys.readouterr()
        evaluate_model(model, tok, cfg)
        lines = [m.groups() for m in re.finditer(r"eval: sample (\d+)/(\d+) \((\d+)%\)", capsys.readouterr().err)]
        assert lines and all(int(n) <= int(total) and int(pct) <= 100 for n, total, pct in lines)
        assert lines[-1][0] == lines[-1][1] and int(lines[-1][1]) > 0


def test_samples_are_grouped_by_their_prompt():
    from unlearn.eval.shared_prompts import answer_batches, prompt_batches, prompt_length, shared_prompt_groups

    def sample(prompt, answer):
        return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}

    samples = [sample([1, 2], [5]), sample([1, 2], [6, 7]), sample([3], [8]), sample([1, 2], [9]),
               {"input_ids": [4, 4], "labels": [4, 4]}, sample([3, 3], [1]), sample([3, 3], [1, 2, 3]),
               sample([3, 3], [4, 5, 6, 7])]
    assert [prompt_length(s) for s in samples] == [2, 2, 1, 2, 0, 2, 2, 2]
    groups, alone = shared_prompt_groups(samples)
    assert groups == [[0, 1, 3], [5, 6, 7]]  # prompts [1, 2] and [3, 3] three times each; [3] once
    assert alone == [2, 4]  # sample 4 has no prompt
    # prompt passes of at most 1 or 2 prompts, in order of their longest answer (2 tokens, then 4)
    assert prompt_batches(groups[::-1], samples, batch_size=1) == [[groups[0]], [groups[1]]]
    assert prompt_batches(groups, samples, batch_size=2) == [groups]
    # answers of one pass sorted by length (1, 1, 1, 2, 3, 4 tokens: samples 0, 3, 5, 1, 6, 7), then cut
    answers = [0, 1, 3, 5, 6, 7]
    assert answer_batches(answers, samples, batch_size=4, vocab=10, budget=10 ** 6) == [[0, 3, 5, 1], [6, 7]]
    # the token budget: 4 answers x longest 2 = 8 tokens; a fifth of 3 tokens would make 15
    assert answer_batches(answers, samples, batch_size=8, vocab=10, budget=10 ** 6, batch_tokens=8) == \
        [[0, 3, 5, 1], [6, 7]]
    # the logits budget: 3 answers x (longest 1 + 1) x vocabulary 10 = 60 logits; a 4th of 2 tokens makes 120
    assert answer_batches(answers, samples, batch_size=8, vocab=10, budget=119) == [[0, 3, 5], [1, 6], [7]]


def test_batches_by_token_budget():
    from unlearn.eval.passes import _batches

    lengths = [2, 2, 3, 10]
    # 2 rows x 2 tokens = 4 fit 6; a third row of 3 tokens makes 3 x 3 = 9; 10 tokens go alone
    assert _batches([0, 1, 2, 3], lengths, batch_size=8, vocab=1, batch_tokens=6) == [[0, 1], [2], [3]]
    assert _batches([0, 1, 2, 3], lengths, batch_size=8, vocab=1) == [[0, 1, 2, 3]]  # rows only
    assert _batches([0, 1, 2, 3], lengths, batch_size=2, vocab=1) == [[0, 1], [2, 3]]


def test_a_model_without_a_copyable_cache_is_scored_by_plain_passes_however_much_is_cached(target_model,
                                                                                          monkeypatch):
    """When the prompt pass yields no cache that can be copied row by row, every grouped sample is batched as
    the plain pass batches it, also when the first prompt batch is already cached and skipped."""
    import unlearn.eval.shared_prompts as shared_prompts
    from unlearn.eval.passes import teacher_forced_pass

    model, tok = _load(target_model)
    samples = []
    for q in ("Where was Ada born?", "What does Ben do?", "Who taught Cleo?"):
        prompt = tok(q)["input_ids"]
        for a in (" In Paris.", " A baker in a small town.", " Nobody at all.", " Her aunt, for years."):
            answer = tok(a)["input_ids"]
            samples.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer})
    def scored(**kw):
        chunks = []
        rows = teacher_forced_pass(model, samples, tok.pad_token_id, batch_size=2,
                                   on_batch=lambda chunk, _: chunks.append(sorted(chunk)), **kw)
        return rows, chunks

    plain, plain_chunks = scored(share_prompts=False)
    monkeypatch.setattr(shared_prompts, "run_prompts", lambda *args: None)
    assert scored() == (plain, plain_chunks)
    # two prompt batches of at most 2 questions; the first (8 answers) is cached: the rest keep their batches
    first = [i for g in shared_prompts.prompt_batches(shared_prompts.shared_prompt_groups(samples)[0], samples, 2)[0]
             for i in g]
    assert len(first) == 8
    resumed, chunks = scored(done=set(first))
    assert chunks == [c for c in plain_chunks if not set(c) <= set(first)]
    assert all(resumed[i] == plain[i] for i in range(len(samples)) if i not in first)


def test_prompts_scored_once_under_lora(target_model):
    """A peft-wrapped model (evaluation during LoRA training) scores shared prompts like a plain pass."""
    from peft import LoraConfig, get_peft_model

    from unlearn.eval.passes import teacher_forced_pass

    model, tok = _load(target_model)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).eval()
    prompt = tok("Where was Ada born?")["input_ids"]
    samples = [{"input_ids": prompt + a, "labels": [-100] * len(prompt) + a}
               for a in (tok(" In Paris.")["input_ids"], tok(" In a small town by the sea.")["input_ids"])]
    shared = teacher_forced_pass(model, samples, tok.pad_token_id)
    plain = teacher_forced_pass(model, samples, tok.pad_token_id, share_prompts=False)
    for a, b in zip(shared, plain):
        assert a["token_logps"] == pytest.approx(b["token_logps"], abs=1e-5)
        assert a["argmax_match"] == b["argmax_match"]
