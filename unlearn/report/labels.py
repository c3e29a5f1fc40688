"""Where the trade-off plot writes each point's name: beside the point when there is room, else moved
along its row or up or down, on either side, with a thin leader line back to the point; never on another
label or a marker and never across the frame. A label with no room inside the frame goes to a column
right of it.

There are no font metrics here, so a label's box is estimated on the generous side (DejaVu Sans, the
widest common sans-serif, rounded up): the real text always lies within it. The report's test measures
the drawn boxes in headless Chromium."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

Box = tuple[float, float, float, float]
"""left, top, right, bottom, in the drawing's pixels (y grows downwards)."""

FONT = 12
ROW = FONT + 4
"""Vertical distance between two labels' baselines."""
GAP = 9
"""From a point's centre to its label; a marker reaches 8 pixels from its centre."""
MARKER = 8
SPACE = FONT
"""The least horizontal space between two labels."""
SHIFT, SHIFTS = 12, 6
"""A label may move along its row in steps of SHIFT pixels, SHIFTS - 1 times at most."""


def text_width(text: str, size: float = FONT) -> float:
    """An upper bound of the text's width: em widths of DejaVu Sans rounded up by character class."""
    def em(c: str) -> float:
        return 1.0 if c in "mwMW@%" else 0.8 if c.isupper() else 0.66

    return sum(em(c) for c in text) * size + 2


def text_box(x: float, baseline: float, width: float, anchor: str = "start") -> Box:
    """The box of a text of `width` starting (or, anchor "end", ending) at x; ascent and descent
    rounded up from DejaVu Sans' 0.93 and 0.24 em."""
    left = x - width if anchor == "end" else x
    return left, baseline - FONT, left + width, baseline + FONT / 4 + 1


def marker_box(cx: float, cy: float) -> Box:
    return cx - MARKER, cy - MARKER, cx + MARKER, cy + MARKER


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(a: Box, b: Box) -> bool:
    return b[0] <= a[0] and a[2] <= b[2] and b[1] <= a[1] and a[3] <= b[3]


@dataclass
class Label:
    text: str
    x: float
    baseline: float
    anchor: str
    """"start": the text begins at x (right of its point); "end": it ends there (left of it)."""
    box: Box
    leader: tuple[float, float, float, float] | None = None
    """(x1, y1, x2, y2): a line from the point to a label that was moved away from it."""


def place_labels(points: list[tuple[str, float, float]], frame: Box) -> list[Label]:
    """A label for each (name, cx, cy), in order: each takes the nearest free place, first beside its
    point (right, then left), then further along its row or a row up or down, all inside the frame;
    failing that, the next row of the column right of the frame. A place is free when its box meets no
    marker and keeps SPACE from every other label (leader lines may pass under a label: the plot draws
    labels on a white halo)."""
    taken = [marker_box(cx, cy) for _, cx, cy in points]
    labels: list[Label] = []
    margin_rows = count()
    for name, cx, cy in points:
        width = text_width(name)
        label = next((c for c in _candidates(name, width, cx, cy, frame)
                      if inside(c.box, frame) and not any(overlap(c.box, t) for t in taken)), None)
        if label is None:
            baseline = frame[1] + FONT + ROW * next(margin_rows)
            x = frame[2] + GAP
            leader = (cx, cy, x - 2, baseline - FONT / 3)
            label = Label(name, x, baseline, "start", text_box(x, baseline, width), leader)
        left, top, right, bottom = label.box
        taken.append((left - SPACE, top, right + SPACE, bottom))  # two names on one row read as two
        labels.append(label)
    return labels


def _candidates(name: str, width: float, cx: float, cy: float, frame: Box):
    """Places on either side of the point, nearest first: beside it, then shifted along its row (past
    the markers of a cluster) or up and down a row at a time, as far as the frame reaches."""
    rows = int((frame[3] - frame[1]) / ROW)
    places = sorted(((step, shift) for step in range(-rows, rows + 1) for shift in range(SHIFTS)),
                    key=lambda p: (p[0] * ROW) ** 2 + (p[1] * SHIFT) ** 2)
    for step, shift in places:
        baseline = cy + FONT / 3 + step * ROW
        for x, anchor in ((cx + GAP + shift * SHIFT, "start"), (cx - GAP - shift * SHIFT, "end")):
            end = x - 2 if anchor == "start" else x + 2
            leader = (cx, cy, end, baseline - FONT / 3) if step or shift else None
            yield Label(name, x, baseline, anchor, text_box(x, baseline, width, anchor), leader)
