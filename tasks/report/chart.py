"""Drift and adoption over time as an inline SVG, drawn here (no charting script, nothing fetched).

One chart per source: a bar per run for what it adopted, a line for what was left when it ended. The SVG
scales to its container (``viewBox``, width 100%), names every run in a ``<title>`` (a tooltip, and what a
screen reader reads), and takes its colours from the page's CSS classes, so a dark theme recolours it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from tasks.report.blocks import Point, Series

WIDTH, HEIGHT = 420, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 14, 34


def nice(top: int) -> int:
    """The axis' top: the smallest of 1, 2, 5 × 10^k at or above ``top``.

    >>> nice(0), nice(7), nice(12), nice(55), nice(200)
    (1, 10, 20, 100, 200)
    """
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= top:
                return max(1, m * step)
        step *= 10


def svg(series: Series) -> str:
    """The chart of one source's runs."""
    points = series.points
    top = nice(max([p.adopted for p in points] + [p.left for p in points] + [1]))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / max(1, len(points))

    def y(v: int) -> float:
        return TOP + inner_h - v * inner_h / top

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    label = (f"{series.source}: {len(points)} runs; the last adopted {points[-1].adopted} {series.unit} and left "
             f"{points[-1].left}") if points else f"{series.source}: no run"
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
           f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(label)}</title>"]
    out += _axes(top, y)
    bar_w = max(2.0, min(28.0, slot * 0.6))
    for i, p in enumerate(points):
        h = TOP + inner_h - y(p.adopted)
        out.append(f'<rect class="adopted" x="{x(i) - bar_w / 2:.1f}" y="{y(p.adopted):.1f}" width="{bar_w:.1f}" '
                   f'height="{h:.1f}"><title>{escape(_tip(p, series.unit))}</title></rect>')
    if points:
        line = " ".join(f"{x(i):.1f},{y(p.left):.1f}" for i, p in enumerate(points))
        out.append(f'<polyline class="left" points="{line}" fill="none"/>')
        out += [f'<circle class="left" cx="{x(i):.1f}" cy="{y(p.left):.1f}" r="3.5">'
                f'<title>{escape(_tip(p, series.unit))}</title></circle>' for i, p in enumerate(points)]
    out += _dates(points, x)
    out.append("</svg>")
    return "\n".join(out)


def _axes(top: int, y: Callable[[int], float]) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" y1="{y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{y(0):.1f}"/>']
    for v in sorted({0, top // 2, top}):
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    return out


def _dates(points: Sequence[Point], x: Callable[[int], float]) -> list[str]:
    """The first and the last run's day under the axis (every run's is in its tooltip)."""
    if not points:
        return []
    picks = [0] + ([len(points) - 1] if len(points) > 1 else [])
    anchors = ["start", "end"] if len(points) > 1 else ["middle"]
    return [f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - 12}" '
            f'text-anchor="{a}">{escape(points[i].when[:10])}</text>'
            for i, a in zip(picks, anchors)]


def _tip(p: Point, unit: str) -> str:
    return f"run {p.run} ({p.when}, {p.status}): adopted {p.adopted} {unit}, left {p.left}"
