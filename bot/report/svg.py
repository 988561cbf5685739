"""Charts as inline SVG: drawn here from numbers, so the report needs no script and no library from elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#1f77b4", "#8c564b")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 48, 36, 12


def color(index: int) -> str:
    """The series colour at `index`."""
    return PALETTE[index % len(PALETTE)]


def _frame(body: list[str], label: str, maximum: float, percent: bool, ticks: Sequence[str]) -> str:
    """Axes, grid, x labels (a few) and the body, as one <svg>."""
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}" class="chart">']
    for step in range(5):
        value = maximum * step / 4
        y = TOP + plot_h - plot_h * step / 4
        text = f"{value:.0%}" if percent else f"{value:,.0f}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    every = max(1, len(ticks) // 8)
    for i, tick in enumerate(ticks):
        if i % every == 0:
            x = _x(i, len(ticks))
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(tick)}</text>')
    return "".join(parts + body + ["</svg>"])


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - 16
    return LEFT + 8 + (span * (index + 0.5) / count if count else 0)


def _y(value: float, maximum: float) -> float:
    plot_h = HEIGHT - BOTTOM - TOP
    return TOP + plot_h - (plot_h * value / maximum if maximum else 0)


def lines(ticks: Sequence[str], series: dict[str, Sequence[float | None]], *, label: str, percent: bool = True) -> str:
    """One line per series over the ticks (weeks); gaps where a value is None."""
    maximum = 1.0 if percent else max([v for vs in series.values() for v in vs if v is not None] + [1.0])
    body = []
    for index, (name, values) in enumerate(series.items()):
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        path = " ".join(f"{_x(i, len(ticks)):.1f},{_y(v, maximum):.1f}" for i, v in points)
        if path:
            body.append(f'<polyline fill="none" stroke="{color(index)}" stroke-width="2" points="{path}">'
                        f'<title>{escape(name)}</title></polyline>')
        for i, v in points:
            shown = f"{v:.1%}" if percent else f"{v:,.0f}"
            body.append(f'<circle cx="{_x(i, len(ticks)):.1f}" cy="{_y(v, maximum):.1f}" r="3" fill="{color(index)}">'
                        f'<title>{escape(name)} {escape(ticks[i])}: {shown}</title></circle>')
    return _frame(body, label, maximum, percent, ticks) + legend(list(series))


def stacked(ticks: Sequence[str], series: dict[str, Sequence[int]], *, label: str) -> str:
    """Stacked bars per tick (weeks), one colour per series."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(ticks))]
    maximum = float(max(totals + [1]))
    width = max(2.0, (WIDTH - LEFT - 16) / max(len(ticks), 1) * 0.7)
    body = []
    for i, tick in enumerate(ticks):
        base = 0
        for index, (name, values) in enumerate(series.items()):
            value = values[i]
            if not value:
                continue
            top, bottom = _y(base + value, maximum), _y(base, maximum)
            body.append(f'<rect x="{_x(i, len(ticks)) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                        f'height="{bottom - top:.1f}" fill="{color(index)}"><title>{escape(name)} {escape(tick)}: '
                        f'{value:,}</title></rect>')
            base += value
    return _frame(body, label, maximum, False, ticks) + legend(list(series))


def bars(items: Sequence[tuple[str, float]], *, label: str, unit: str = "") -> str:
    """Horizontal bars, largest first as given."""
    height = 22 * len(items) + 8
    maximum = max([v for _, v in items] + [1])
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="{escape(label)}" class="chart">']
    for i, (name, value) in enumerate(items):
        y = 4 + 22 * i
        length = (WIDTH - 320) * value / maximum
        body.append(f'<text x="220" y="{y + 14}" text-anchor="end">{escape(name[:34])}</text>'
                    f'<rect x="228" y="{y + 2}" width="{length:.1f}" height="16" fill="{color(0)}">'
                    f'<title>{escape(name)}: {value:,.0f}{unit}</title></rect>'
                    f'<text x="{234 + length:.1f}" y="{y + 14}">{value:,.0f}{unit}</text>')
    return "".join(body + ["</svg>"])


def legend(names: Sequence[str]) -> str:
    """Colour keys for a chart's series."""
    keys = "".join(f'<span class="key"><i style="background:{color(i)}"></i>{escape(n)}</span>'
                   for i, n in enumerate(names))
    return f'<div class="legend">{keys}</div>'
