"""The report's two drawings as inline SVG (no plotting library, no external file): the trade-off plot
and the sequential-deletion curves. Both axes run from 0 to 1, the range of the metrics drawn."""

from __future__ import annotations

from html import escape
from typing import Any

from unlearn.report.labels import FONT, place_labels

COLOURS = ["#0969da", "#bf3989", "#8250df", "#bc4c00", "#1a7f37"]
HALO = "stroke='#fff' stroke-width='3' paint-order='stroke'"
"""A white outline under a label's letters, so that a leader line passing under it does not cross them."""


def tradeoff_svg(points: list[tuple[str, str, float, float]], x_title: str, y_title: str, size: int = 420) -> str:
    """(name, role, x, y) points: methods as blue circles, the original a black square, the retrained
    model a green diamond, so the references stand out from the methods. Each point's name is placed by
    unlearn.report.labels: on no other label or marker, inside the frame (or in a column right of it)."""
    pad, inner = 50, size - 70
    frame = (pad, 20, pad + inner, 20 + inner)

    def pos(x: float, y: float) -> tuple[float, float]:
        return pad + x * inner, 20 + (1 - y) * inner

    centres = [(name, *pos(x, y)) for name, _, x, y in points]
    labels = place_labels(centres, frame)
    marks = [_marker(role, cx, cy) for (_, role, _, _), (_, cx, cy) in zip(points, centres)]
    leaders = [f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='#8c959f' stroke-width='0.8'/>"
               for x1, y1, x2, y2 in (label.leader for label in labels if label.leader)]
    names = [f"<text x='{label.x:.1f}' y='{label.baseline:.1f}' font-size='{FONT}' text-anchor='{label.anchor}' "
             f"class='label' {HALO}>{escape(label.text)}</text>" for label in labels]
    width = max([size - 10, *(label.box[2] + 4 for label in labels)])
    height = max([size, *(label.box[3] + 4 for label in labels)])
    ticks = "".join(f"<text x='{pos(t / 4, 0)[0]}' y='{size - 32}' font-size='11' text-anchor='middle'>{t / 4:g}</text>"
                    f"<text x='{pad - 8}' y='{pos(0, t / 4)[1] + 4}' font-size='11' text-anchor='end'>{t / 4:g}</text>"
                    for t in range(5))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' role='img' "
            f"aria-label='trade-off plot'><rect x='{pad}' y='20' width='{inner}' height='{inner}' fill='none' "
            f"stroke='#8c959f' class='frame'/>{ticks}"
            f"<text x='{pad + inner / 2}' y='{size - 10}' font-size='12' text-anchor='middle'>{escape(x_title)}</text>"
            f"<text x='14' y='{20 + inner / 2}' font-size='12' text-anchor='middle' "
            f"transform='rotate(-90 14 {20 + inner / 2})'>{escape(y_title)}</text>"
            f"{''.join(leaders)}{''.join(marks)}{''.join(names)}</svg>")


def _marker(role: str, cx: float, cy: float) -> str:
    """A method's blue circle (class "point"), the original's black square, the retrained model's green diamond."""
    if role == "original":
        return f"<rect x='{cx - 6:.1f}' y='{cy - 6:.1f}' width='12' height='12' fill='#24292f'/>"
    if role == "retrained":
        corners = ((cx, cy - 8), (cx + 8, cy), (cx, cy + 8), (cx - 8, cy))
        return f"<path d='M{' L'.join(f'{x:.1f} {y:.1f}' for x, y in corners)} Z' fill='#1a7f37'/>"
    return f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='6' fill='#0969da' class='point'/>"


def sequence_svg(sequence: dict[str, Any], metric: str, width: int = 520, height: int = 260) -> str:
    """`metric` on each request's forget set and on the retain set after each request, one line each."""
    rows, n = sequence["rows"], len(sequence["requests"])
    step = (width - 180) / max(1, len(rows) - 1)
    lines = []
    for j, key in enumerate([*(f"request{k}" for k in range(1, n + 1)), "retain"]):
        pts = " ".join(f"{40 + i * step:.1f},{20 + (1 - r['sets'][key][metric]) * (height - 60):.1f}"
                       for i, r in enumerate(rows))
        colour = COLOURS[j % len(COLOURS)]
        lines.append(f"<polyline points='{pts}' fill='none' stroke='{colour}' stroke-width='2'/>"
                     f"<text x='{width - 120}' y='{24 + 14 * j}' font-size='11' fill='{colour}'>{key}</text>")
    labels = "".join(f"<text x='{40 + i * step:.1f}' y='{height - 20}' font-size='10' text-anchor='middle'>"
                     f"{escape(r['after'])}</text>" for i, r in enumerate(rows))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='sequential deletions'>{''.join(lines)}{labels}</svg>")
