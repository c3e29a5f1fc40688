"""`unlearn demo --quick` end to end: the claims the demo makes hold on its own results."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from unlearn.core.formatting import fmt

from conftest import run_cli

REQUIRED = ["forget_rougeL_recall", "forget_prob", "forget_truth_ratio", "forget_quality", "retain_rougeL_recall",
            "model_utility"]
# The quick demo itself takes about 4 minutes on 2 cores (fine-tuning two models, six methods), so the
# tests that read its results are slow tests; CI runs them, and runs the installed wheel's `demo --quick`.
DEMO = pytest.mark.slow
METHODS = ["GA", "NPO", "GA_GDR", "NPO_GDR", "IDK_GDR", "ReLearn"]
RELEARN = ["forget_kfr", "retain_krr", "forget_linguistic_score", "retain_linguistic_score"]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = run_cli("demo", "--quick", "--out", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| target |" in proc.stdout  # the table is printed
    return out


@DEMO
def test_results_have_every_model_and_metric(demo_out):
    models = json.loads((demo_out / "results.json").read_text())["models"]
    assert set(models) == {"target", "retain", *METHODS}
    for name, metrics in models.items():
        for key in REQUIRED + RELEARN:
            assert metrics.get(key) is not None, (name, key)


@DEMO
def test_target_and_retain_models_know_what_they_should(demo_out):
    models = json.loads((demo_out / "results.json").read_text())["models"]
    target, retain = models["target"], models["retain"]
    assert target["forget_rougeL_recall"] >= 0.9 and target["retain_rougeL_recall"] >= 0.9
    assert retain["retain_rougeL_recall"] >= 0.9
    assert retain["forget_rougeL_recall"] <= target["forget_rougeL_recall"] - 0.3
    assert retain["forget_quality"] == pytest.approx(1.0)  # KS test of the retain model against itself


@DEMO
def test_every_method_lowers_forget_rouge(demo_out):
    models = json.loads((demo_out / "results.json").read_text())["models"]
    for name in METHODS:
        assert models[name]["forget_rougeL_recall"] < models["target"]["forget_rougeL_recall"], name


@DEMO
def test_report_states_the_seesaw_with_numbers(demo_out):
    report = (demo_out / "report.md").read_text()
    models = json.loads((demo_out / "results.json").read_text())["models"]
    seesaw = report.split("## The seesaw")[1].split("\n## ")[0]
    assert "Without a retain term: GA and NPO; with one: GA_GDR, NPO_GDR, IDK_GDR and ReLearn" in seesaw
    assert "| GA_GDR |" in report and f"GA {fmt(models['GA']['retain_rougeL_recall'])}" in seesaw
    assert "## Example answers, before and after" in report


@DEMO
def test_report_sets_relearn_next_to_ga_and_npo(demo_out):
    report = (demo_out / "report.md").read_text()
    models = json.loads((demo_out / "results.json").read_text())["models"]
    section = report.split("## Learning new answers next to reverse optimisation")[1].split("\n## ")[0]
    assert "| forget KFR | retain KRR |" in section and "| ReLearn | learning |" in section
    relearn, ga = models["ReLearn"], models["GA"]
    assert f"KRR {fmt(relearn['retain_krr'])} vs GA {fmt(ga['retain_krr'])}" in section
    assert "**At this scale ReLearn keeps retention" in section
    assert relearn["retain_rougeL_recall"] > ga["retain_rougeL_recall"]  # the seed's retention claim, on this run


@DEMO
def test_rerun_reuses_finished_runs(demo_out):
    weights = [demo_out / name / "model" / "model.safetensors" for name in ("target", "retain", "unlearn/GA")]
    before = [p.stat().st_mtime_ns for p in weights]
    proc = run_cli("demo", "--quick", "--out", str(demo_out), "--methods", "GA", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.stat().st_mtime_ns for p in weights] == before  # nothing was trained a second time
    assert set(json.loads((demo_out / "results.json").read_text())["models"]) == {"target", "retain", "GA"}


def _entries(models):
    """Hand-made report entries, each method run described by its method (here named like the run);
    "target" is the original model."""
    from pathlib import Path

    from unlearn.config import MethodConfig
    from unlearn.report.entries import Entry
    from unlearn.report.method_kinds import kind_of

    return [Entry(name, "original", Path(name), metrics) if name == "target" else
            Entry(name, "method", Path(name), {} if "error" in metrics else metrics,
                  kind=kind_of(MethodConfig(name=name)), error=metrics.get("error"))
            for name, metrics in models.items()]


def test_report_survives_a_failed_method():
    from unlearn.report.build import build_report
    from unlearn.report.markdown import report_markdown

    ok = {"forget_rougeL_recall": 1.0, "retain_rougeL_recall": 1.0}
    models = {"target": ok, "GA": {"forget_rougeL_recall": 0.0, "retain_rougeL_recall": 0.1},
              "NPO_GDR": {"error": "the loss became nan at step 3"}}
    report = report_markdown(build_report(_entries(models)))
    assert "| NPO_GDR | n/a |" in report
    verdict = report.split("## The seesaw")[1].split("\n## ")[0]
    assert "NPO_GDR failed: the loss became nan" in verdict and "GA forgets" in verdict


def _row(forget_rouge, retain_rouge, kfr, krr, ls):
    return {"forget_rougeL_recall": forget_rouge, "retain_rougeL_recall": retain_rouge, "forget_kfr": kfr,
            "retain_krr": krr, "model_utility": 0.5, "forget_linguistic_score": ls, "retain_linguistic_score": ls}


def test_relearn_verdict_follows_the_numbers():
    from unlearn.report.keys import Keys
    from unlearn.report.learning_claim import claim_verdict

    def verdict(models):
        entries = _entries(models)
        return claim_verdict(entries, Keys(entries))

    models = {"target": _row(1.0, 1.0, 0.1, 0.9, 0.30), "GA": _row(0.0, 0.1, 1.0, 0.1, 0.05),
              "NPO": _row(0.1, 0.3, 0.9, 0.3, 0.10), "ReLearn": _row(0.1, 0.9, 0.8, 0.8, 0.20)}
    text = "\n".join(verdict(models))
    assert "keeps retention better than GA and NPO; its fluency is better**" in text
    assert "KRR 0.800 vs GA 0.100, NPO 0.300" in text and "KFR 0.800 vs GA 1.000, NPO 0.900 (less)" in text
    models["NPO"] = _row(0.1, 0.95, 0.9, 0.85, 0.40)  # NPO keeps more and scores above the target's own answers
    text = "\n".join(verdict(models))
    assert "keeps retention no better than GA and NPO" in text
    assert "cannot be told from the linguistic score here: it ranks NPO above the original model's own" in text
    models["ReLearn"] = {"error": "the loss became nan"}
    lines = verdict(models)
    assert "No finished run learns new answers" in lines[0] and "- ReLearn failed: the loss became nan" in lines
    del models["GA"], models["NPO"]
    models["ReLearn"] = _row(0.1, 0.9, 0.8, 0.8, None)
    assert verdict(models) == ["The claim cannot be checked for ReLearn: no reverse-optimisation run finished; "
                               "missing values: forget_linguistic_score, retain_linguistic_score."]


@DEMO
def test_demo_writes_the_html_report_and_its_markdown_twin(demo_out):
    from test_report_html import FOLD, assert_labels_readable, first_table_head

    html = (demo_out / "report.html").read_text()
    methods = set(json.loads((demo_out / "results.json").read_text())["models"]) - {"target", "retain"}
    assert methods and html.count("class='point'") == len(methods)  # a point per method, plus the references
    assert "aria-label='trade-off plot'" in html and "<table>" in html and "<details>" in html
    twin = (demo_out / "report.md").read_text()  # the HTML's Markdown twin is the demo's report
    assert "## Forget metrics" in twin and "| forget_rougeL_recall (lower is better) |" in twin
    # The key metrics first; every other metric and set folded away.
    key = ["forget ROUGE-L (lower is better)", "retain ROUGE-L (higher is better)",
           "holdout ROUGE-L (higher is better)", "model utility (higher is better)", "forget LS (higher is better)"]
    # ... and each run's cost from its cost.json (the references were trained by the demo too)
    assert first_table_head(html) == ["model", "role", *key, "cost (s)", "peak memory (GiB)"]
    assert "forget BI" in "".join(FOLD.findall(html)) and "forget BI" not in FOLD.sub("", html)
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("headless Chromium is not installed (apt-get install chromium): the rendering is not checked")
    from unlearn.report.screenshot import FLAGS, chromium, screenshot

    dom = subprocess.run([chromium(), *FLAGS, "--dump-dom", (demo_out / "report.html").resolve().as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout  # the DOM after rendering
    assert "<svg" in dom and dom.count("<table>") >= 3 and all(m in dom for m in methods)
    assert_labels_readable(demo_out / "report.html", ["target", "retain", *methods])
    assert screenshot(demo_out / "report.html", demo_out / "report.png").stat().st_size > 10_000
