"""`unlearn report RUN... --out report.html`: one self-contained HTML file (and a Markdown twin) about a
set of unlearned models: the forget-versus-utility trade-off plot, the calibrated ranking, per-metric
tables with the direction of "better", the robustness table, sequential-deletion curves, example
answers side by side, and each run's provenance. Inputs are run or evaluation folders (metrics.json,
optionally samples.jsonl, run.json, calibration.json, robustness.json); the original and the retrained
model are drawn as references."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from unlearn.core.errors import ConfigError
from unlearn.report.markdown import fmt
from unlearn.core.files import read_json, read_json_lines

X_KEYS = ("model_utility", "retain_rougeL_recall")
Y_KEY = "forget_rougeL_recall"


@dataclass
class Entry:
    name: str
    role: str
    """method, original or retrained."""
    folder: Path
    metrics: dict[str, Any]
    directions: dict[str, str]
    samples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """run.json, calibration.json and robustness.json when present."""


def _read_json(path: Path) -> Any:
    return read_json(path, "re-run the step that wrote it")


def load_entry(folder: str | Path, role: str = "method", name: str | None = None) -> Entry:
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise ConfigError(f"{folder} has no metrics.json; give a run folder (unlearn unlearn) or an evaluation "
                          "folder (unlearn eval --out)")
    data = _read_json(folder / "metrics.json")
    samples = folder / "samples.jsonl"
    rows = read_json_lines(samples, "re-run the evaluation that wrote it") if samples.is_file() else []
    extra = {f: _read_json(folder / f"{f}.json") for f in ("run", "calibration", "robustness")
             if (folder / f"{f}.json").is_file()}
    return Entry(name or role if role != "method" else name or folder.name, role, folder, data["metrics"],
                 data.get("directions", {}), rows, extra)


def _x_key(entries: list[Entry]) -> str:
    """The utility axis: model_utility when every model has it, else retain ROUGE-L (one scale for all)."""
    return next((k for k in X_KEYS if all(e.metrics.get(k) is not None for e in entries)), X_KEYS[-1])


def _point(entry: Entry, x_key: str) -> tuple[float, float] | None:
    x = entry.metrics.get(x_key)
    y = entry.metrics.get(Y_KEY)
    return None if x is None or y is None else (float(x), float(y))


def tradeoff_svg(entries: list[Entry], size: int = 420) -> str:
    """Forget ROUGE-L (lower = more forgotten) against utility (higher = more kept), each model a point."""
    pad, inner = 50, size - 70
    x_key = _x_key(entries)

    def pos(x: float, y: float) -> tuple[float, float]:
        return pad + x * inner, 20 + (1 - y) * inner

    marks = []
    for e in entries:
        p = _point(e, x_key)
        if p is None:
            continue
        cx, cy = pos(*p)
        shape = {"original": f"<rect x='{cx - 6}' y='{cy - 6}' width='12' height='12' fill='#24292f'/>",
                 "retrained": f"<path d='M{cx} {cy - 8} L{cx + 8} {cy} L{cx} {cy + 8} L{cx - 8} {cy} Z' fill='#1a7f37'/>"}
        marks.append(shape.get(e.role, f"<circle cx='{cx}' cy='{cy}' r='6' fill='#0969da' class='point'/>")
                     + f"<text x='{cx + 9}' y='{cy + 4}' font-size='12'>{escape(e.name)}</text>")
    ticks = "".join(f"<text x='{pos(t / 4, 0)[0]}' y='{size - 32}' font-size='11' text-anchor='middle'>{t / 4:g}</text>"
                    f"<text x='{pad - 8}' y='{pos(0, t / 4)[1] + 4}' font-size='11' text-anchor='end'>{t / 4:g}</text>"
                    for t in range(5))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{size + 110}' height='{size}' role='img' "
            f"aria-label='trade-off plot'><rect x='{pad}' y='20' width='{inner}' height='{inner}' fill='none' "
            f"stroke='#8c959f'/>{ticks}"
            f"<text x='{pad + inner / 2}' y='{size - 10}' font-size='12' text-anchor='middle'>{x_key} (higher: more "
            f"kept)</text><text x='14' y='{20 + inner / 2}' font-size='12' text-anchor='middle' "
            f"transform='rotate(-90 14 {20 + inner / 2})'>{Y_KEY} (lower: more forgotten)</text>{''.join(marks)}</svg>")


def _table(head: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                      *("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)])


def sections(entries: list[Entry], sequence: dict[str, Any] | None, examples: int = 3) -> list[tuple[str, list, list]]:
    """(title, head, rows) of every table of the report, in order."""
    out = []
    keys = sorted({k for e in entries for k, v in e.metrics.items() if isinstance(v, (int, float))})
    directions = {k: d for e in entries for k, d in e.directions.items()}
    for group, wanted in (("Forget metrics", lambda k: k.startswith("forget")),
                          ("Retain and utility metrics", lambda k: not k.startswith("forget"))):
        rows = [k for k in keys if wanted(k)]  # a row per metric, a column per model
        if rows:
            out.append((group, ["metric (which way is better)", *(e.name for e in entries)],
                        [[f"{k} ({directions.get(k, '?')})", *(fmt(e.metrics.get(k)) for e in entries)] for k in rows]))
    calibrated = [e for e in entries if "calibration" in e.extra]
    if len({(e.extra["calibration"]["metric"], e.extra["calibration"]["ratio"]) for e in calibrated}) > 1:
        raise ConfigError("the runs were calibrated to different targets; calibrate them alike "
                          "(unlearn compare RUN... --metric M --target T) before reporting a ranking")
    calibrated.sort(key=lambda e: (e.extra["calibration"]["forget"].get(Y_KEY) is None,
                                   e.extra["calibration"]["forget"].get(Y_KEY) or 0.0))  # missing values last
    if calibrated:
        c0 = calibrated[0].extra["calibration"]
        out.append((f"Calibrated ranking (at {c0['ratio']:.0%} of the original's {c0['metric']}; lower "
                    f"{Y_KEY} is better)", ["rank", "model", "alpha", c0["metric"], Y_KEY],
                    [[str(i), e.name, f"{e.extra['calibration']['alpha']:.3f}", fmt(e.extra["calibration"]["value"]),
                      fmt(e.extra["calibration"]["forget"].get(Y_KEY))] for i, e in enumerate(calibrated, 1)]))
    probed = {e.name: {p["probe"]: p["returned"] for p in e.extra["robustness"]["probes"]}
              for e in entries if "robustness" in e.extra}
    if probed:
        probes = list(dict.fromkeys(p for values in probed.values() for p in values))  # matched by name
        out.append(("Robustness: share of the removed knowledge that returns (lower is better)", ["model", *probes],
                    [[name, *(fmt(values.get(p)) for p in probes)] for name, values in probed.items()]))
    if sequence:
        n = len(sequence["requests"])
        out.append((f"Sequential deletions ({sequence['method']}): {Y_KEY} after each request",
                    ["after", *(f"request{j}" for j in range(1, n + 1)), "retain"],
                    [[r["after"], *(fmt(r["sets"][f"request{j}"]["rougeL_recall"]) for j in range(1, n + 1)),
                      fmt(r["sets"]["retain"]["rougeL_recall"])] for r in sequence["rows"]]))
    for split in ("forget", "retain"):
        by_model = {e.name: {s.get("id", s["question"]): s for s in e.samples if s.get("set") == split}
                    for e in entries if e.samples}
        first = next((rows for rows in by_model.values() if rows), {})
        for key, sample in list(first.items())[:examples]:  # matched by sample id, not by position
            out.append((f"Example ({split}): {sample['question']} (true answer: {sample['answer']})",
                        ["model", "answer"], [[name, rows[key]["generation"][:200] if key in rows else "(not evaluated)"]
                                              for name, rows in by_model.items()]))
    return out


def sequence_svg(sequence: dict[str, Any], width: int = 520, height: int = 260) -> str:
    """ROUGE-L of each request's forget set and of the retain set after each request, as lines."""
    rows, n = sequence["rows"], len(sequence["requests"])
    lines, colours = [], ["#0969da", "#bf3989", "#8250df", "#bc4c00", "#1a7f37"]
    for j, key in enumerate([*(f"request{k}" for k in range(1, n + 1)), "retain"]):
        pts = " ".join(f"{40 + i * (width - 180) / max(1, len(rows) - 1):.1f},"
                       f"{20 + (1 - r['sets'][key]['rougeL_recall']) * (height - 60):.1f}" for i, r in enumerate(rows))
        colour = colours[j % len(colours)]
        lines.append(f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='2'/>"
                     f"<text x='{width - 120}' y='{24 + 14 * j}' font-size='11' fill='{colour}'>{key}</text>")
    labels = "".join(f"<text x='{40 + i * (width - 180) / max(1, len(rows) - 1):.1f}' y='{height - 20}' "
                     f"font-size='10' text-anchor='middle'>{escape(r['after'])}</text>" for i, r in enumerate(rows))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='sequential deletions'>{''.join(lines)}{labels}</svg>")


def provenance(entry: Entry) -> str:
    info = entry.extra.get("run", {})
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    hashes = "".join(f"<li><code>{escape(k)}</code>: <code>{escape(v[:16])}…</code></li>"
                     for k, v in info.get("data_hashes", {}).items())
    config = escape(json.dumps(info.get("config", {}), indent=1))
    return (f"<details><summary>{escape(entry.name)} ({escape(str(entry.folder))})</summary>"
            f"<p>{escape(info.get('command', 'no run.json: an evaluation folder'))}</p><p>{escape(versions)}</p>"
            f"<ul>{hashes}</ul><pre>{config}</pre></details>")


def write_html_report(entries: list[Entry], out: str | Path, sequence: dict[str, Any] | None = None,
                      markdown: str | Path | None = None) -> tuple[Path, Path]:
    """OUT (HTML) and its Markdown twin (default: OUT with .md)."""
    from unlearn.core.atomic import write_text

    if not any(e.role == "method" for e in entries):
        raise ConfigError("a report needs at least one unlearned model (RUN folders)")
    out = Path(out)
    parts = sections(entries, sequence)
    body = [f"<h1>Unlearning report: {len([e for e in entries if e.role == 'method'])} methods</h1>",
            "<h2>Forget versus utility</h2><p>Each method a blue point; the original model a black square, the "
            "retrained model (never saw the forget set) a green diamond.</p>", tradeoff_svg(entries)]
    if sequence:
        body += ["<h2>Sequential deletions</h2>", sequence_svg(sequence)]
    body += [f"<h2>{escape(title)}</h2>{_table(head, rows)}" for title, head, rows in parts]
    body += ["<h2>Provenance</h2>", *(provenance(e) for e in entries)]
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>Unlearning report</title><style>"
            "body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;"
            "font-size:13px}th{background:#f6f8fa}pre{font-size:11px;overflow-x:auto}</style></head><body>"
            + "".join(body) + "</body></html>")
    x_key = _x_key(entries)
    points = [f"- {e.name} ({e.role}): {x_key} {p[0]:.3f}, {Y_KEY} {p[1]:.3f}" for e in entries
              if (p := _point(e, x_key))]
    md = ["# Unlearning report", "", "## Forget versus utility", "", *points, ""]
    md += [f"## {title}\n\n{_md_table(head, rows)}\n" for title, head, rows in parts]
    md += ["## Provenance", "", *(f"- {e.name}: `{e.folder}` ({e.extra.get('run', {}).get('command', 'evaluation')})"
                                 for e in entries), ""]
    md_path = Path(markdown) if markdown else out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, html)
    write_text(md_path, "\n".join(md))
    return out, md_path
