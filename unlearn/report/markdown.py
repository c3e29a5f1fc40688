"""A report as Markdown: the twin of the HTML file, for terminals and pull requests."""

from __future__ import annotations

from unlearn.core.formatting import markdown_table
from unlearn.report.document import Report, Section


def section_markdown(section: Section) -> str:
    """One section: "## title", its text, tables and notes, blocks separated by blank lines."""
    blocks = [f"## {section.title}", *_text_blocks(section.text)]
    for table in section.tables:
        caption = _text_blocks([table.caption] if table.caption else [])
        blocks += [*caption, markdown_table(table.head, table.rows, table.align)]
    blocks += _text_blocks(section.notes)
    return "\n\n".join(blocks)


def report_markdown(report: Report) -> str:
    parts = [f"# {report.title}", *_text_blocks(report.intro), *(section_markdown(s) for s in report.sections)]
    return "\n\n".join(parts) + "\n"


def _text_blocks(lines: list[str]) -> list[str]:
    """Paragraphs apart; a bold claim and the bullets that back it stay together, as one block."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("- ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return ["\n".join(b) for b in blocks]
