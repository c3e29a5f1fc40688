"""One number formatter and one Markdown table, for every printed table and report."""

from __future__ import annotations

from typing import Any, Sequence


def fmt(value: Any) -> str:
    """A metric value for a table: 'n/a' for None, 1.2e-05 below 1e-3 in size, else three decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and 0 < abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int = 1) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned. Cells are written as given
    (format numbers with `fmt` first); a '|' inside a cell is escaped."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    rule = "|" + "|".join("---" if i < numeric_from else "---:" for i in range(len(header))) + "|"
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", rule]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
