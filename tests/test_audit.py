"""`unlearn audit`: the checks on hand-made numbers, the thresholds file, and certificates of the tiny
target model (nothing forgotten) and of a GA-unlearned one."""

from __future__ import annotations

import json

import pytest

from unlearn.core.errors import ConfigError
from unlearn.evidence.audit import THRESHOLDS, checks, load_thresholds


def _by_name(found):
    return {c.name: c for c in found}


def test_checks_on_hand_made_numbers():
    run = {"forget_rougeL_recall": 0.6, "retain_rougeL_recall": 0.9, "forget_quality": 0.01,
           "mia_loss_auc": 0.55, "mia_zlib_auc": 0.75, "forget_extraction_strength": 0.1}
    original = {"forget_rougeL_recall": 1.0, "retain_rougeL_recall": 1.0}
    found = _by_name(checks(run, original, {"forget_rougeL_recall": 0.2}, {"int8": 0.1, "jailbreak": 0.3},
                            dict(THRESHOLDS)))
    assert found["forget ROUGE-L vs the original"].status == "failed"  # 0.6 > 0.5 x 1.0
    assert "still come back" in found["forget ROUGE-L vs the original"].reason
    assert found["forget ROUGE-L vs the retrained model"].status == "failed"  # 0.6 > 0.2 + 0.1
    assert found["forget quality"].status == "failed"  # 0.01 < 0.05
    assert found["membership inference AUC"].value == 0.75 and found["membership inference AUC"].status == "failed"
    assert found["extraction strength"].status == "passed"
    assert found["robustness probes"].status == "failed" and "jailbreak brings back 30%" in found["robustness probes"].reason
    assert found["retain ROUGE-L kept"].status == "passed"  # 0.9 >= 0.8 x 1.0
    skipped = _by_name(checks({"forget_rougeL_recall": 0.1}, original, None, {}, dict(THRESHOLDS)))
    assert skipped["forget quality"].status == "skipped" and "--retain-eval" in skipped["forget quality"].reason
    assert skipped["membership inference AUC"].status == "skipped"
    # probes that ran but measured no return are not named as if they had: the line says what happened
    none_back = _by_name(checks(run, original, None, {"bfloat16": None, "int8": None, "jailbreak": 0.05},
                                dict(THRESHOLDS)))["robustness probes"]
    assert none_back.status == "passed" and none_back.threshold == "returned <= 0.2 after jailbreak"
    nothing = _by_name(checks(run, original, None, {"bfloat16": None, "int8": None}, dict(THRESHOLDS)))
    assert nothing["robustness probes"].status == "skipped"
    assert nothing["robustness probes"].threshold == "returned <= 0.2 after no probe with a measurable return"
    assert nothing["robustness probes"].reason.startswith("bfloat16, int8 ran, but nothing was removed")


def test_thresholds_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("forget_rouge_ratio: 0.3\n")
    assert load_thresholds(str(path))["forget_rouge_ratio"] == 0.3
    assert load_thresholds(str(path))["mia_auc_band"] == THRESHOLDS["mia_auc_band"]
    path.write_text("forget_rouge: 0.3\n")
    with pytest.raises(ConfigError, match="unknown key 'forget_rouge'; valid: forget_rouge_ratio"):
        load_thresholds(str(path))
    path.write_text("forget_rouge_ratio: high\n")
    with pytest.raises(ConfigError, match="must be a number"):
        load_thresholds(str(path))


def test_audit_fails_the_target_and_passes_more_on_an_unlearned_model(world, target_model, tmp_path):
    import shutil

    from tests.conftest import run_cli
    from unlearn import api
    from unlearn.config import load_config

    target_run = tmp_path / "target"  # a copy: the audit writes into the run folder
    shutil.copytree(target_model.parent, target_run)
    proc = run_cli("audit", str(target_run), "--original", str(target_model), "eval.max_new_tokens=8", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    target = json.loads((target_run / "audit.json").read_text())
    forget_check = next(c for c in target["checks"] if c["name"] == "forget ROUGE-L vs the original")
    assert forget_check["status"] == "failed" and forget_check["reason"]  # nothing was forgotten
    assert target["request"]["records"] == len(json.loads((world / "forget10.json").read_text()))
    assert len(target["model"]["safetensors_sha256"]) == 64
    assert "Deletion audit" in (target_run / "audit.html").read_text()

    ga = tmp_path / "ga"
    api.run_unlearning(load_config(overrides=[f"out={ga}", f"model.path={target_model}", f"data.path={world}",
                                              "method.name=GA", "train.lr=1e-2", "train.max_steps=6",
                                              "train.batch_size=4", "eval.enabled=false"]))
    proc = run_cli("audit", str(ga), "eval.max_new_tokens=8", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    unlearned = json.loads((ga / "audit.json").read_text())
    assert unlearned["summary"]["passed"] > target["summary"]["passed"]
    assert next(c for c in unlearned["checks"] if c["name"] == "forget ROUGE-L vs the original")["status"] == "passed"
    assert unlearned["model"]["safetensors_sha256"] != target["model"]["safetensors_sha256"]
