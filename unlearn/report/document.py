"""What a report is, before it is written: a title, an introduction and sections, each section some text,
perhaps a figure, tables and closing notes. Sections are built once (unlearn.report.build) and rendered
twice, to HTML (unlearn.report.html) and to its Markdown twin (unlearn.report.markdown), so the two
files always say the same thing.

Text lines use a small part of Markdown that both renderers understand: a line starting with "- " is a
bullet, `code` and **bold** inline; every other line is a paragraph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]]
    """Cells as they are shown: numbers already formatted with unlearn.core.formatting.fmt."""
    caption: str = ""
    """A text line above the table (the question of an example, say)."""
    text_columns: int = 1
    """How many columns, from the left, hold text (left-aligned in Markdown); the rest hold numbers."""

    @property
    def align(self) -> str:
        """One letter a column for unlearn.core.formatting.markdown_table: l (text) or r (numbers)."""
        return "l" * self.text_columns + "r" * (len(self.head) - self.text_columns)


@dataclass
class Section:
    id: str
    """Stable name (HTML anchor; lets a caller pick sections, as the demo does to print its verdicts)."""
    title: str
    text: list[str] = field(default_factory=list)
    figure: str = ""
    """An SVG drawing, in the HTML only; the Markdown has the same numbers in the section's tables."""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Text lines after the tables (what the columns mean)."""
    details: list[tuple[str, str]] = field(default_factory=list)
    """(summary, preformatted text) folded away in the HTML only: long material such as full configs."""
    folded: str = ""
    """When set, the HTML folds the whole section under a <details> element with this summary, together
    with the folded sections next to it that have the same summary; the Markdown shows it as it is."""


@dataclass
class Report:
    title: str
    intro: list[str]
    sections: list[Section]

    def section(self, id: str) -> Section | None:
        return next((s for s in self.sections if s.id == id), None)


def names_text(names: Sequence[str]) -> str:
    """"A", "A and B", "A, B and C": the runs a sentence is about."""
    names = list(names)
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
