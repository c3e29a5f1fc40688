"""The report on hand-made run folders: plot points, tables, ranking, robustness, sequence, the Markdown
twin, and the method-based sections (seesaw, ReLearn's claim) for runs whatever their names."""

from __future__ import annotations

import json
import re

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



def first_table_head(html):
    return re.findall(r"<th>(.*?)</th>", html.split("<table>")[1].split("</table>")[0])


FOLD = re.compile(r"<details class='fold'>.*?</details>", re.DOTALL)


def test_key_metrics_come_first_and_the_rest_is_folded(tmp_path):
    """The first table holds knowledge of the forget, retain and held-out sets, model utility and fluency,
    each with its direction; every other metric and set is folded under <details> in the HTML and comes
    after the key table in the Markdown."""
    values = {"retain_rougeL_recall": 0.9, "holdout_rougeL_recall": 0.3, "forget_linguistic_score": 0.4,
              "forget_brunet_index": 5.0, "retain_honore_statistic": 900.0, "general_prob": 0.5}
    original = _folder(tmp_path, "target", 1.0, 0.9, values=values)
    judged = _folder(tmp_path, "GA", 0.1, 0.5, "GA", {**values, "forget_fluency": 2.5})
    html_path, md_path = write_html_report([load_entry(original, "original"), load_entry(judged)],
                                           tmp_path / "r.html")
    html, md = html_path.read_text(), md_path.read_text()
    knowledge = ["forget ROUGE-L (lower is better)", "retain ROUGE-L (higher is better)",
                 "holdout ROUGE-L (higher is better)", "model utility (higher is better)"]
    assert first_table_head(html) == ["model", "role", *knowledge, "forget fluency (higher is better)"]
    assert "| GA | method | 0.100 | 0.900 | 0.300 | 0.500 | 2.500 |" in md.split("## Summary")[0]
    folded, shown = "".join(FOLD.findall(html)), FOLD.sub("", html)
    for rest in ("forget_brunet_index (lower is better)", "retain_honore_statistic", "general_prob", "forget BI"):
        assert rest in folded and rest not in shown, rest
    assert shown.count("<table>") == 3  # the key table, the example answers and the provenance
    assert md.index("## Key metrics") < md.index("## Summary: the tofu suite") < md.index("## Forget metrics")
    # No judge: the linguistic score is the fluency figure; no held-out set: no held-out column.
    plain = _folder(tmp_path, "NPO", 0.2, 0.6, "NPO", {k: v for k, v in values.items() if not k.startswith("holdout")})
    html_path, _ = write_html_report([load_entry(plain)], tmp_path / "plain.html")
    assert first_table_head(html_path.read_text())[2:] == [*knowledge[:2], knowledge[3], "forget LS (higher is better)"]


# The plot's labels, measured where they are drawn: headless Chromium lays the report out and a script
# injected into a copy writes the box of every text, shape and the frame of the trade-off plot.
MEASURE = """<script>addEventListener('load', () => {
  const svg = document.querySelector("svg[aria-label='trade-off plot']");
  const box = e => { const b = e.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  const shapes = [...svg.querySelectorAll('text, rect, circle, path')].map(e => (
    {tag: e.tagName, text: e.textContent, fill: e.getAttribute('fill'), box: box(e)}));
  const out = document.createElement('pre');
  out.id = 'boxes';
  out.textContent = JSON.stringify({width: svg.width.baseVal.value, height: svg.height.baseVal.value, shapes});
  document.body.append(out);
});</script>"""


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(a, b):
    return b[0] <= a[0] and a[2] <= b[2] and b[1] <= a[1] and a[3] <= b[3]


def plot_layout(html_path, names):
    """(svg box, frame box, {label: box}, marker boxes) of the trade-off plot as Chromium draws it."""
    import html
    import re
    import shutil
    import subprocess

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("headless Chromium is not installed (apt-get install chromium): the plot's labels are not measured")
    from unlearn.report.screenshot import FLAGS, chromium

    page = html_path.with_name("measured.html")
    page.write_text(html_path.read_text().replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run([chromium(), *FLAGS, "--dump-dom", page.resolve().as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout  # the DOM after the script ran
    found = json.loads(html.unescape(re.search(r"<pre id=\"boxes\">(.*?)</pre>", dom, re.DOTALL).group(1)))
    shapes = found["shapes"]
    labels = {s["text"]: s["box"] for s in shapes if s["tag"] == "text" and s["text"] in names}
    frame = next(s["box"] for s in shapes if s["tag"] == "rect" and s["fill"] == "none")
    markers = [s["box"] for s in shapes if s["tag"] != "text" and s["fill"] != "none"]
    assert set(labels) == set(names), "every model has its label"
    return [0, 0, found["width"], found["height"]], frame, labels, markers


def assert_labels_readable(html_path, names):
    """No label on another label or on a marker; every label inside the drawing, and inside the frame or
    wholly outside it (never across its border)."""
    svg, frame, labels, markers = plot_layout(html_path, names)
    items = list(labels.items())
    for i, (name, box) in enumerate(items):
        assert _inside(box, svg), f"{name}'s label {box} leaves the drawing {svg}"
        assert _inside(box, frame) or not _overlap(box, frame), f"{name}'s label {box} crosses the frame {frame}"
        for other, other_box in items[i + 1:]:
            assert not _overlap(box, other_box), f"the labels of {name} {box} and {other} {other_box} overlap"
        covered = [m for m in markers if _overlap(box, m)]
        assert not covered, f"{name}'s label {box} covers the markers {covered}"


CROWD = ["GA", "NPO", "GA_GDR", "NPO_GDR", "IDK_GDR", "ReLearn_lr2e-5"]


def test_plot_labels_never_overlap_and_stay_in_the_drawing(tmp_path):
    """Six methods within a hair of one another (as the demo's GA, NPO, GA_GDR and NPO_GDR near (0, 0.02)),
    one in the corner at (0, 0), the original and the retrained model together in the opposite corner."""
    original = _folder(tmp_path, "target", 0.99, 0.95)  # forget ROUGE-L, model utility
    retrained = _folder(tmp_path, "retain", 0.97, 0.99)
    runs = [_folder(tmp_path, name, 0.02 + 0.003 * i, 0.01 * i) for i, name in enumerate(CROWD)]
    runs.append(_folder(tmp_path, "corner", 0.0, 0.0))
    entries = [load_entry(original, "original"), load_entry(retrained, "retrained"), *(load_entry(f) for f in runs)]
    html_path, _ = write_html_report(entries, tmp_path / "out" / "report.html")
    assert_labels_readable(html_path, ["original", "retrained", *CROWD, "corner"])


def test_labels_with_no_room_in_the_frame_go_to_a_column_beside_it():
    """Sixty runs on one spot and a name wider than the frame: what does not fit inside goes to the
    column right of the frame, with a leader line, and the drawing grows to hold it."""
    from unlearn.report.labels import inside, overlap, place_labels
    from unlearn.report.svg import tradeoff_svg

    frame = (50, 20, 400, 370)  # tradeoff_svg's at its default size
    points = [(f"run{i}", 60.0, 360.0) for i in range(60)] + [("a_name_wider_than_the_frame" * 3, 200.0, 200.0)]
    labels = place_labels(points, frame)
    boxes = [label.box for label in labels]
    assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    beside = [label for label in labels if not inside(label.box, frame)]
    assert labels[-1] in beside and all(label.box[0] > frame[2] and label.leader for label in beside)
    svg = tradeoff_svg([(name, "method", (cx - 50) / 350, (370 - cy) / 350) for name, cx, cy in points], "x", "y")
    width, height = (float(v) for v in re.search(r"width='([\d.]+)' height='([\d.]+)'", svg).groups())
    assert all(box[2] <= width and box[3] <= height for box in boxes)
