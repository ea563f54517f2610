"""Small scatter plots as inline SVG for the HTML reports: no plotting library, crisp at
any zoom, and readable as text by a test."""

from __future__ import annotations

import html
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 360
MARGIN = (64, 134, 24, 52)  # left, right (the legend's), top, bottom (px)
COLOURS = ("#c0392b", "#2471a3", "#229954", "#7d3c98", "#d68910", "#515a5a")


@dataclass
class Series:
    """Points of one method: ``(x, y, label)`` each; ``joined`` draws a line through them
    in order (a dial's path)."""

    name: str
    points: list[tuple[float, float, str]]
    joined: bool = False


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def scatter_svg(series: list[Series], x_label: str, y_label: str, title: str) -> str:
    """An SVG scatter plot of ``series`` (one colour each, a legend, labelled points)."""
    xs = [x for s in series for x, _, _ in s.points]
    ys = [y for s in series for _, y, _ in s.points]
    if not xs:
        raise ValueError("nothing to plot")
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    padx, pady = (x1 - x0) * 0.08 or 0.01, (y1 - y0) * 0.08 or 0.1
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady
    left, right, top, bottom = MARGIN
    pw, ph = WIDTH - left - right, HEIGHT - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" '
             f'role="img"><title>{html.escape(title)}</title>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
             'stroke="#888"/>',
             f'<text x="{left + pw / 2}" y="{top - 8}" text-anchor="middle" '
             f'font-size="13">{html.escape(title)}</text>']
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{px(t):.1f}" y="{top + ph + 16}" text-anchor="middle">'
                     f'{t:.3f}</text>')
    for t in _ticks(y0, y1):
        parts.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">'
                     f'{t:.2f}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">{html.escape(y_label)}</text>')
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        if s.joined and len(s.points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _ in s.points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         'stroke-width="1.5"/>')
        for x, y, label in s.points:
            parts.append(f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" '
                         f'fill="{colour}"><title>{html.escape(s.name)} {html.escape(label)}: '
                         f'{x:.4f}, {y:.2f}</title></circle>')
            if label:
                parts.append(f'<text x="{px(x) + 6:.1f}" y="{py(y) - 6:.1f}" '
                             f'fill="{colour}">{html.escape(label)}</text>')
        ly = top + 14 + 16 * i  # the legend, right of the plot: it hides no point
        parts.append(f'<circle cx="{left + pw + 16}" cy="{ly - 4}" r="4" fill="{colour}"/>'
                     f'<text x="{left + pw + 26}" y="{ly}">{html.escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
