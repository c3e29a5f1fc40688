"""The report on hand-made run folders: plot points, tables, ranking, robustness, sequence, the Markdown
twin, and the method-based sections (seesaw, ReLearn's claim) for runs whatever their names."""

from __future__ import annotations

import json

import pytest

from unlearn.core.errors import ConfigError
from unlearn.report.build import build_report, write_report
from unlearn.report.entries import load_entry


def write_html_report(entries, out, sequence=None):
    return write_report(build_report(entries, sequence), out)


def _folder(tmp_path, name, forget, utility, method=None, values=None, **extra):
    folder = tmp_path / name
    folder.mkdir()
    metrics = {"metrics": {"forget_rougeL_recall": forget, "model_utility": utility, **(values or {})},
               "directions": {"forget_rougeL_recall": "lower is better", "model_utility": "higher is better"}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if method:
        (folder / "config.yaml").write_text(f"method:\n  name: {method}\n")
    (folder / "samples.jsonl").write_text(json.dumps({"set": "forget", "question": "Where?", "answer": "Paris.",
                                                      "generation": f"{name} says"}) + "\n")
    for key, value in extra.items():
        (folder / f"{key}.json").write_text(json.dumps(value))
    return folder


def test_report_sections_from_run_folders(tmp_path):
    calibration = {"ratio": 0.95, "metric": "model_utility", "alpha": 0.5, "value": 0.9,
                   "forget": {"forget_rougeL_recall": 0.3}}
    robustness = {"probes": [{"probe": "int8", "returned": 0.25}]}
    a = _folder(tmp_path, "A", 0.2, 0.8, calibration=calibration, robustness=robustness)
    b = _folder(tmp_path, "B", 0.1, 0.4, calibration={**calibration, "alpha": 0.7, "forget": {"forget_rougeL_recall": 0.1}},
                robustness={"probes": [{"probe": "int8", "returned": 0.0}]})
    target = _folder(tmp_path, "target", 1.0, 0.9)
    sequence = {"requests": ["forget10[:2]", "forget10[2:4]"], "method": "GA", "rows": [
        {"after": "original", "sets": {"request1": {"rougeL_recall": 1.0}, "request2": {"rougeL_recall": 1.0},
                                       "retain": {"rougeL_recall": 1.0}}},
        {"after": "request1", "sets": {"request1": {"rougeL_recall": 0.1}, "request2": {"rougeL_recall": 0.9},
                                       "retain": {"rougeL_recall": 0.8}}}]}
    entries = [load_entry(target, "original"), load_entry(a), load_entry(b)]
    html_path, md_path = write_html_report(entries, tmp_path / "out" / "report.html", sequence)
    html, md = html_path.read_text(), md_path.read_text()
    assert html.count("class='point'") == 2 and "<rect x=" in html  # two methods, the original a square
    # B forgets more at its calibrated alpha, so it ranks first
    ranking = md.split("## Calibrated ranking")[1].split("##")[0]
    assert ranking.index("| 1 | B |") < ranking.index("| 2 | A |")
    assert "| A | 0.250 |" in md and "| B | 0.000 |" in md  # robustness: the share returned
    assert "aria-label='sequential deletions'" in html and "| request1 | 0.100 | 0.900 | 0.800 |" in md
    assert "| forget_rougeL_recall (lower is better) | 1.000 | 0.200 | 0.100 |" in md
    assert "A says" in html and "B says" in md  # example answers side by side
    assert md_path == tmp_path / "out" / "report.md"


def test_report_input_errors(tmp_path):
    with pytest.raises(ConfigError, match="has no metrics.json"):
        load_entry(tmp_path)
    target = _folder(tmp_path, "target", 1.0, 0.9)
    with pytest.raises(ConfigError, match="at least one unlearned model"):
        write_html_report([load_entry(target, "original")], tmp_path / "r.html")


def test_report_matches_by_name_and_puts_missing_values_last(tmp_path):
    calibration = {"ratio": 0.95, "metric": "model_utility", "alpha": 0.5, "value": 0.9, "forget": {}}
    a = _folder(tmp_path, "A", 0.2, 0.8, calibration=calibration,  # no forget value at its alpha
                robustness={"probes": [{"probe": "relearn", "returned": 0.5}]})
    b = _folder(tmp_path, "B", 0.3, 0.7, calibration={**calibration, "forget": {"forget_rougeL_recall": 0.4}},
                robustness={"probes": [{"probe": "int8", "returned": 0.0}, {"probe": "relearn", "returned": 0.1}]})
    _, md = write_html_report([load_entry(a), load_entry(b)], tmp_path / "r.html")
    text = md.read_text()
    ranking = text.split("## Calibrated ranking")[1].split("##")[0]
    assert ranking.index("| 1 | B |") < ranking.index("| 2 | A |")  # A's missing value ranks last
    robustness = text.split("## Robustness")[1].split("##")[0]
    assert "| model | relearn | int8 |" in robustness  # columns by probe name, values under their own probe
    assert "| A | 0.500 | n/a |" in robustness and "| B | 0.100 | 0.000 |" in robustness
    other = _folder(tmp_path, "C", 0.3, 0.7, calibration={**calibration, "ratio": 0.9})
    with pytest.raises(ConfigError, match="calibrated to different targets"):
        write_html_report([load_entry(b), load_entry(other)], tmp_path / "r2.html")


def _measures(forget_rouge, retain_rouge, kfr, krr, ls):
    return {"forget_rougeL_recall": forget_rouge, "retain_rougeL_recall": retain_rouge, "forget_kfr": kfr,
            "retain_krr": krr, "forget_linguistic_score": ls, "retain_linguistic_score": ls}


def test_method_sections_go_by_the_runs_methods_not_their_names(tmp_path):
    """Runs named nothing like the demo's get its seesaw and ReLearn sections, from their config.yaml."""
    original = _folder(tmp_path, "before", 1.0, 0.9, values=_measures(1.0, 1.0, 0.1, 0.9, 0.3))
    a = _folder(tmp_path, "run_a", 0.0, 0.1, "GA", _measures(0.0, 0.1, 1.0, 0.1, 0.05))
    b = _folder(tmp_path, "run_b", 0.2, 0.6, "NPO_GDR", _measures(0.2, 0.7, 0.9, 0.6, 0.1))
    c = _folder(tmp_path, "run_c", 0.3, 0.7, "ReLearn", _measures(0.3, 0.9, 0.8, 0.8, 0.2))
    _, md = write_html_report([load_entry(original, "original"), *(load_entry(f) for f in (a, b, c))],
                              tmp_path / "r.html")
    text = md.read_text()
    seesaw = text.split("## The seesaw")[1].split("\n## ")[0]
    assert "Without a retain term: run_a; with one: run_b and run_c" in seesaw
    assert "**The seesaw shows in this run.**" in seesaw and "- run_a forgets" in seesaw
    assert "run_b keeps more retain knowledge than run_a: retain ROUGE-L 0.700 vs run_a 0.100" in seesaw
    claim = text.split("## Learning new answers next to reverse optimisation")[1].split("\n## ")[0]
    assert "Learning (every forget term of the method descends the NLL of other answers): run_c" in claim
    assert "reverse optimisation (no forget term does): run_a and run_b" in claim
    assert "**At this scale run_c keeps retention better than run_a and run_b; its fluency is better**" in claim
    assert "| run_c | learning |" in claim and "| run_a | reverse optimisation |" in claim
    # Runs of one kind only: nothing to set side by side, so neither section is written.
    _, md = write_html_report([load_entry(original, "original"), load_entry(b)], tmp_path / "one.html")
    assert "## The seesaw" not in md.read_text() and "## Learning new answers" not in md.read_text()


def test_examples_come_from_the_sets_of_each_role_whatever_their_names(tmp_path):
    folders = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"metrics": {"forget10_rougeL_recall": 0.5},
                                                         "roles": {"forget10": "forget", "retain90": "retain"}}))
        rows = [{"set": "forget10", "id": "q1", "question": "Who?", "answer": "Ada.", "generation": f"{name} forgot"},
                {"set": "retain90", "id": "q2", "question": "Where?", "answer": "Rome.", "generation": f"{name} kept"}]
        (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        folders.append(folder)
    _, md = write_html_report([load_entry(f) for f in folders], tmp_path / "r.html")
    text = md.read_text()
    assert "**forget10:** Who? (true answer: Ada.)" in text and "**retain90:** Where? (true answer: Rome.)" in text
    assert "a forgot" in text and "b kept" in text
