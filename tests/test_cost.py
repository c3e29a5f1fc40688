"""The cost report: cost.json in every run folder, with passes, tokens and phases counted, not estimated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn import api
from unlearn.config import load_config
from unlearn.core.cost import CostMeter, add_evaluation, cost_line, training_record


def test_phases_add_up_and_tokens_per_second_is_tokens_over_train_seconds():
    meter = CostMeter()
    meter.seconds.update({"load": 1.5, "train": 2.0, "save": 0.5})
    meter.count_forward("forget+retain", {"forget": 30, "retain": 10}, ["forget"])
    meter.count_backward("forget")
    record = training_record(meter, meter.counters(), {"cpu_peak_rss_mib": 512.0}, {"reference": "copy"})
    assert record["total_s"] == 4.0
    assert record["tokens_trained"] == 40
    assert record["tokens_per_s_trained"] == 20.0  # 40 tokens / 2.0 s of training
    assert record["passes"] == {"forward": {"forget+retain": 1}, "reference_forward": {"forget": 1},
                                "backward": {"forget": 1}}
    line = cost_line(record)
    assert line.startswith("cost: 4.0 s (load 1.5, train 2.0, save 0.5)")
    assert "20 tokens/s trained" in line and "peak RSS 0.50 GiB" in line and "(+1 reference)" in line


def test_evaluation_adds_its_phase_to_the_runs_record(tmp_path):
    (tmp_path / "cost.json").write_text(json.dumps({"phases_s": {"load": 1.0, "train": 3.0},
                                                    "memory": {"cpu_peak_rss_mib": 10.0}}))
    meter = CostMeter()
    meter.seconds["evaluate"] = 2.0
    meter.count_scored([[1, 2, 3], [4, 5]])
    meter.generated_answers = 2
    record = add_evaluation(tmp_path, meter)
    assert record["phases_s"] == {"load": 1.0, "train": 3.0, "evaluate": 2.0}
    assert record["total_s"] == 6.0
    assert record["evaluation"] == {"sequences_scored": 2, "tokens_scored": 5, "tokens_per_s_scored": 2.5,
                                    "answers_generated": 2}
    assert record["memory"]["cpu_peak_rss_mib"] == 10.0  # the training's peak is kept
    assert record["memory"]["evaluate_cpu_peak_rss_mib"] > 0
    (tmp_path / "eval_only").mkdir()  # an evaluation folder of its own: its peak is the evaluation's
    alone = add_evaluation(tmp_path / "eval_only", meter)
    assert alone["memory"]["cpu_peak_rss_mib"] == alone["memory"]["evaluate_cpu_peak_rss_mib"] > 0
    assert json.loads((tmp_path / "cost.json").read_text()) == record


def test_a_run_counts_its_own_peak_not_the_process_s():
    """A run sharing its process with earlier work (the demo, a sweep) reports the memory it reached itself."""
    import torch

    from unlearn.core.cost import peak_memory

    big = torch.ones(64 * 2 ** 20)  # 256 MiB, freed at once (a large allocation goes back to the system)
    del big
    before = peak_memory()["cpu_peak_rss_mib"]
    meter = CostMeter()
    if not meter.own_peak:
        pytest.skip("this system cannot reset a process's peak resident set (/proc/self/clear_refs)")
    assert peak_memory()["cpu_peak_rss_mib"] < before - 200


def _forget_tokens(world: Path, model: Path) -> int:
    """Non-padding tokens of every forget10 sample, counted here from the records and the tokenizer."""
    from transformers import AutoTokenizer

    from unlearn.data.tokenize import PromptFormatter

    formatter = PromptFormatter(AutoTokenizer.from_pretrained(model))
    records = json.loads((world / "forget10.json").read_text())
    return sum(len(formatter.encode(r["question"], r["answer"])["input_ids"]) for r in records)


@pytest.mark.parametrize("name, reference", [("GA", None), ("NPO", "cached"), ("NPO_KLR", "copy")])
def test_a_run_counts_its_passes_tokens_and_phases(name, reference, world, target_model, tmp_path):
    """One step over the whole forget set: the forward tokens are the forget set's; NPO's reference
    log-probs are cached before training (no reference pass per step), NPO_KLR's KL needs a frozen copy
    (one reference pass per stream)."""
    n = len(json.loads((world / "forget10.json").read_text()))
    out = tmp_path / name
    cfg = load_config(overrides=[f"out={out}", f"model.path={target_model}", f"data.path={world}",
                                 f"method.name={name}", "train.max_steps=1", f"train.batch_size={n}",
                                 f"eval.enabled={name == 'GA'}", "eval.suites=[tofu]", "eval.max_new_tokens=4",
                                 f"eval.cache_dir={tmp_path / 'cache'}"])
    api.run_unlearning(cfg)
    record = json.loads((out / "cost.json").read_text())
    assert record["method"] == name and record["steps"] == 1 and record["processes"] == 1
    # one forward pass over the forget and retain batches together when the method has both
    assert record["passes"]["forward"] == {"forget+retain" if name == "NPO_KLR" else "forget": 1}
    assert record["tokens_by_stream"]["forget"] == _forget_tokens(world, target_model)
    assert record["reference"] == reference
    assert record["passes"]["reference_forward"] == ({"forget": 1, "retain": 1} if reference == "copy" else {})
    assert set(record["phases_s"]) >= {"load", "train", "save"}
    if name == "GA":  # the evaluation (one is enough) adds its phase and what it scored
        assert "evaluate" in record["phases_s"]
        assert record["evaluation"]["sequences_scored"] > 0 and record["evaluation"]["answers_generated"] > 0
    assert record["memory"]["cpu_peak_rss_mib"] > 0


def test_the_reports_key_table_shows_each_runs_cost(tmp_path):
    from unlearn.report.entries import Entry
    from unlearn.report.keys import Keys
    from unlearn.report.tables import key_section

    roles = {"forget": "forget", "retain": "retain"}
    metrics = {"forget_rougeL_recall": 0.2, "retain_rougeL_recall": 0.8}
    cheap = Entry("GA", "method", tmp_path, metrics, roles=roles,
                  extra={"cost": {"total_s": 12.34, "memory": {"cpu_peak_rss_mib": 1536.0}}})
    gpu = Entry("NPO", "method", tmp_path, metrics, roles=roles,
                extra={"cost": {"total_s": 50.0, "memory": {"cpu_peak_rss_mib": 900.0,
                                                            "gpu_max_allocated_mib": [512.0, 2048.0]}}})
    bare = Entry("old", "method", tmp_path, metrics, roles=roles)
    table = key_section([cheap, gpu, bare], Keys([cheap, gpu, bare])).tables[0]
    assert table.head[-2:] == ["cost (s)", "peak memory (GiB)"]
    assert [row[-2:] for row in table.rows] == [["12.3", "1.50"], ["50.0", "2.00"], ["n/a", "n/a"]]
