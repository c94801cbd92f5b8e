"""Server-side SVG charts (history per day, run time per minute): no chart library, nothing to load.

Every label that comes from data passes through markupsafe.escape; the numbers are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from sidequest.web.format import number

WIDTH = 800
HEIGHT = 200
LEFT = 52
BOTTOM = 22


@dataclass(frozen=True)
class Series:
    css_class: str  # processed, failed, bar, bar failures
    values: Sequence[float]
    label: str


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, unit: str = "") -> Markup:
    """Lines over evenly spaced points, oldest on the left; labels thinned to about eight."""
    count = max(len(labels), 2)
    top = _nice_top(max([4.0, *(v for s in series for v in s.values)]))
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - 8

    def x(i: int) -> float:
        return LEFT + plot_w * i / (count - 1)

    def y(v: float) -> float:
        return 8 + plot_h * (1 - v / top)

    parts = [_open(title)]
    parts += _grid(top, y, unit)
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            anchor = "end" if i == len(labels) - 1 and i > 0 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{escape(label)}</text>'
            )
    for s in series:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        parts.append(
            f'<polyline class="{escape(s.css_class)}" points="{points}"><title>{escape(s.label)}</title></polyline>'
        )
        for i, v in enumerate(s.values):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="6" fill="transparent">'
                f"<title>{escape(labels[i] if i < len(labels) else '')}: {escape(number(v))} {escape(s.label)}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = "") -> Markup:
    """One bar per label (minutes of the metrics chart), value on hover."""
    count = max(len(values), 1)
    top = _nice_top(max([1.0, *values]))
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - 8
    slot = plot_w / count
    parts = [_open(title)]
    parts += _grid(top, lambda v: 8 + plot_h * (1 - v / top), unit)
    step = max(1, count // 8)
    for i, value in enumerate(values):
        height = plot_h * value / top
        x = LEFT + i * slot
        parts.append(
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{8 + plot_h - height:.1f}" '
            f'width="{max(slot * 0.8, 1):.1f}" height="{height:.1f}">'
            f"<title>{escape(labels[i])}: {escape(number(value))} {escape(unit)}</title></rect>"
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(labels[i])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _grid(top: float, y: object, unit: str) -> list[str]:
    assert callable(y)
    parts = []
    for step in range(5):
        value = top * step / 4
        at = y(value)
        parts.append(
            f'<line class="{"axis" if step == 0 else "gridline"}" x1="{LEFT}" x2="{WIDTH - 8}" y1="{at:.1f}" y2="{at:.1f}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{escape(_short(value))}{escape(unit)}</text>'
        )
    return parts


def _nice_top(value: float) -> float:
    """Four grid steps of 1/2/5 x 10^n that reach value, so grid lines fall on round numbers."""
    return 4 * _nice_step(value / 4)


def _nice_step(value: float) -> float:
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value and magnitude > 0.001:
        magnitude /= 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"
