"""The one report pipeline: entries (run or evaluation folders) -> sections -> one HTML file and its
Markdown twin. `unlearn report` and `unlearn demo` both write through here; each section decides from
the runs themselves (their files and their methods' terms) whether it has something to say."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from unlearn.core.errors import ConfigError
from unlearn.report.document import Report, Section
from unlearn.report.entries import Entry
from unlearn.report.examples import examples_section, provenance_section
from unlearn.report.follow_ups import ranking_section, robustness_section, sequence_section
from unlearn.report.html import report_html
from unlearn.report.keys import Keys
from unlearn.report.learning_claim import learning_section
from unlearn.report.markdown import report_markdown
from unlearn.report.seesaw import seesaw_section
from unlearn.report.tables import key_section, metric_sections, summary_sections


def build_report(entries: list[Entry], sequence: dict[str, Any] | None = None, title: str | None = None,
                 intro: Sequence[str] = (), extra: Sequence[Section] = ()) -> Report:
    """Every section the entries support, in reading order: the key metrics with the plot, the summaries
    (folded in the HTML), the verdicts, the full tables (folded), the follow-up commands' results,
    examples, `extra` (the caller's own sections, such as the demo's settings) and provenance."""
    methods = [e for e in entries if e.role == "method"]
    if not methods:
        raise ConfigError("a report needs at least one unlearned model (RUN folders)")
    keys = Keys(entries)
    sections = [key_section(entries, keys), *summary_sections(entries, keys), seesaw_section(entries, keys),
                learning_section(entries, keys), *metric_sections(entries, keys), ranking_section(entries, keys),
                robustness_section(entries), sequence_section(sequence), examples_section(entries), *extra,
                provenance_section(entries)]
    return Report(title or f"Unlearning report: {len(methods)} methods", list(intro), [s for s in sections if s])


def write_report(report: Report, out: str | Path, markdown: str | Path | None = None) -> tuple[Path, Path]:
    """OUT (HTML) and its Markdown twin (default: OUT with .md), both from the same sections."""
    from unlearn.core.atomic import write_text

    out = Path(out)
    md_path = Path(markdown) if markdown else out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, report_html(report))
    write_text(md_path, report_markdown(report))
    return out, md_path
