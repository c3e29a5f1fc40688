"""One number formatter and one Markdown table, for every printed table and report."""

from __future__ import annotations

from typing import Any, Sequence


def fmt(value: Any, digits: int = 3) -> str:
    """A metric value for a table: 'n/a' for None, 1.2e-05 below 1e-3 in size, else `digits` decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and 0 < abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table. `align` has one letter a column, l (left) or r (right); default: the first column
    left (names), the others right (numbers). Cells are written as given (format numbers with `fmt`
    first); a '|' inside a cell is escaped."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", rule]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
