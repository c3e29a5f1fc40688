"""A report as one self-contained HTML page: no external files, scripts or fonts, so it can be mailed
or attached to a deletion request as it is."""

from __future__ import annotations

import re
from html import escape
from itertools import groupby

from unlearn.report.document import Report, Section, Table

STYLE = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;"
         "font-size:13px}th{background:#f6f8fa}pre{font-size:11px;overflow-x:auto}"
         "details.fold>summary{font-size:1.2em;font-weight:bold;margin:1em 0;cursor:pointer}")


def report_html(report: Report) -> str:
    body = [f"<h1>{escape(report.title)}</h1>", _text(report.intro)]
    for folded, sections in groupby(report.sections, key=lambda s: s.folded):  # next folded sections: one <details>
        html = "".join(_section(s) for s in sections)
        body.append(f"<details class='fold'><summary>{escape(folded)}</summary>{html}</details>" if folded else html)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(report.title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def _section(section: Section) -> str:
    parts = [f"<h2 id='{escape(section.id)}'>{escape(section.title)}</h2>", _text(section.text), section.figure]
    parts += [_text([t.caption]) + _table(t) if t.caption else _table(t) for t in section.tables]
    parts.append(_text(section.notes))
    parts += [f"<details><summary>{escape(summary)}</summary><pre>{escape(body)}</pre></details>"
              for summary, body in section.details]
    return "".join(parts)


def _table(table: Table) -> str:
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
            + "</table>")


def _text(lines: list[str]) -> str:
    """Paragraphs and bullet lists from the sections' text lines (document.py says the markup)."""
    out, bullets = [], []
    for line in [*lines, ""]:  # the empty line closes an open list
        if line.startswith("- "):
            bullets.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if bullets:
            out.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        if line:
            out.append(f"<p>{_inline(line)}</p>")
    return "".join(out)


def _inline(text: str) -> str:
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text, quote=False))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
