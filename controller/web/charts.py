"""Bar charts as server-side SVG: the geometry here, the markup in templates/_chart.html.

No charting library and nothing from a CDN: a page's charts are drawn in the HTML it is sent
in, so they print, work without JavaScript and are read by screen readers from their title and
description (every chart also has its numbers in a table under it). Colours come from CSS
classes in static/statistics.css (the CSP allows no inline styles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 30  # room for the value ticks and the category labels
MAX_LABELS = 16  # more categories than this: every n-th is labelled
H_LABEL_WIDTH = 260  # horizontal bars: room for the category names on the left
H_BAR = 24


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar: its name (legend), CSS class and a value per category."""

    name: str
    css: str
    values: list[float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    label: str  # the bar's tooltip: category, series and value


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Chart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, name)


def nice_ceiling(value: float) -> float:
    """The axis top: the value rounded up to 1, 2, 2.5 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def tick_parts(top: float) -> int:
    """Into how many parts the axis is cut: 5, 4 or 2 when that gives whole steps (50 -> 10s,
    20 -> 5s), else 5 (2.5 -> 0.5s)."""
    return next((n for n in (5, 4, 2) if float(top).is_integer() and int(top) % n == 0), 5)


def number(value: float) -> str:
    """A value as the axis and tooltips say it: whole numbers without a decimal point."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    categories: list[str],
    series: list[Series],
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Vertical bars, one per category, the series stacked bottom up."""
    chart = Chart(
        chart_id,
        title,
        desc,
        width,
        height,
        legend=[(s.css, s.name) for s in series] if len(series) > 1 else [],
    )
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    parts = tick_parts(top)
    for step in range(parts + 1):
        value = top * step / parts
        y = TOP + plot_h - plot_h * step / parts
        chart.lines.append(Line(LEFT, y, width - RIGHT, y))
        chart.texts.append(Text(LEFT - 6, y + 4, number(value), "end"))
    if not categories:
        return chart
    slot = plot_w / len(categories)
    bar = max(slot * 0.75, 1.0)
    every = math.ceil(len(categories) / MAX_LABELS)
    for i, category in enumerate(categories):
        x = LEFT + i * slot + (slot - bar) / 2
        base = float(TOP + plot_h)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            chart.rects.append(
                Rect(
                    round(x, 2),
                    round(base, 2),
                    round(bar, 2),
                    round(h, 2),
                    s.css,
                    f"{category}: {s.name} {number(value)}",
                )
            )
        if i % every == 0:
            chart.texts.append(Text(round(x + bar / 2, 2), height - BOTTOM + 18, category))
    return chart


def hbar_chart(
    chart_id: str, title: str, desc: str, rows: list[tuple[str, float]], css: str, width: int = WIDTH
) -> Chart:
    """Horizontal bars, one per (name, value) row, for long category names (refusal reasons)."""
    height = TOP + BOTTOM + H_BAR * max(len(rows), 1)
    chart = Chart(chart_id, title, desc, width, height)
    plot_w = width - H_LABEL_WIDTH - RIGHT - 40  # room for the value after the bar
    top = nice_ceiling(max((value for _, value in rows), default=0))
    for i, (name, value) in enumerate(rows):
        y = TOP + i * H_BAR
        w = plot_w * value / top
        chart.texts.append(Text(H_LABEL_WIDTH - 8, y + H_BAR * 0.65, name, "end"))
        chart.rects.append(
            Rect(H_LABEL_WIDTH, y + 3, round(max(w, 1.0), 2), H_BAR - 6, css, f"{name}: {number(value)}")
        )
        chart.texts.append(Text(round(H_LABEL_WIDTH + w + 6, 2), y + H_BAR * 0.65, number(value), "start"))
    chart.lines.append(Line(H_LABEL_WIDTH, TOP, H_LABEL_WIDTH, TOP + H_BAR * max(len(rows), 1)))
    return chart
