"""Line charts drawn server-side as SVG (metric curves over steps): no JavaScript library and
nothing fetched from a CDN, so the pages work on an offline cluster."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

# Colour-blind-safe palette (Okabe & Ito), in the order runs are listed.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
Point = tuple[float, float]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def swatch(i: int) -> Markup:
    """The run's colour as a small square (an SVG: the portal's CSP allows no inline style)."""
    return Markup(f'<svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
                  f'rx="3" fill="{color(i)}"/></svg>')


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^n steps)."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 12))
    return ticks


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.6g}"


def line_chart(series: Sequence[tuple[str, Sequence[Point]]], title: str, x_label: str = "step",
               width: int = 560, height: int = 300) -> Markup:
    """One SVG with a line per series (label, [(x, y)]); NaN and infinite values are skipped."""
    clean = [(label, [(float(x), float(y)) for x, y in pts if math.isfinite(float(y))])
             for label, pts in series]
    xs = [x for _, pts in clean for x, _ in pts]
    ys = [y for _, pts in clean for _, y in pts]
    left, right, top, bottom = 64, 16, 30, 40
    pw, ph = width - left - right, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" data-metric="{escape(title)}">',
           f'<title>{escape(title)} over {escape(x_label)}</title>',
           f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>']
    if not xs:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" class="chart-empty">'
                   'no values</text></svg>')
        return Markup("".join(out))
    xt = nice_ticks(min(xs), max(xs)) if max(xs) > min(xs) else [min(xs) - 1, min(xs), min(xs) + 1]
    yt = nice_ticks(min(ys), max(ys)) if max(ys) > min(ys) else [min(ys) - 1, min(ys), min(ys) + 1]
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    for y in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" class="tick">{fmt(y)}</text>')
    for x in xt:
        out.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top + ph}" y2="{top + ph + 4}" class="axis"/>'
                   f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle" class="tick">{fmt(x)}</text>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>'
               f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" class="axis"/>'
               f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" class="axis-label">'
               f'{escape(x_label)}</text>')
    for i, (label, pts) in enumerate(clean):
        if not pts:
            continue
        c = color(i)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<g class="series" data-run="{escape(label)}"><title>{escape(label)}</title>')
        if len(pts) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{c}" stroke-width="2"/>')
        out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{c}"><title>{escape(label)}: '
                   f'step {fmt(x)}, {fmt(y)}</title></circle>' for x, y in pts)
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(values: Sequence[tuple[str, float | None]], title: str, width: int = 560, height: int = 300) -> Markup:
    """One bar per run (label, value): what a metric logged once per run (final accuracy, rmse)
    is compared with; a line over one step would be a lone dot per run."""
    clean = [(label, float(v)) for label, v in values if v is not None and math.isfinite(float(v))]
    left, right, top, bottom = 64, 16, 30, 56
    pw, ph = width - left - right, height - top - bottom
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" data-metric="{escape(title)}">',
           f'<title>{escape(title)} per run</title>',
           f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>']
    if not clean:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" class="chart-empty">'
                   'no values</text></svg>')
        return Markup("".join(out))
    ys = [v for _, v in clean]
    yt = nice_ticks(min(0.0, min(ys)), max(0.0, max(ys)))
    y0, y1 = yt[0], yt[-1]

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    for y in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" class="tick">{fmt(y)}</text>')
    slot = pw / len(clean)
    bar = min(48.0, slot * 0.7)
    for i, (label, v) in enumerate(clean):
        x = left + slot * i + (slot - bar) / 2
        top_y, base_y = sorted((sy(v), sy(0.0)))
        out.append(f'<g class="series" data-run="{escape(label)}"><rect x="{x:.1f}" y="{top_y:.1f}" width="{bar:.1f}" '
                   f'height="{max(base_y - top_y, 1):.1f}" fill="{color(i)}"><title>{escape(label)}: {fmt(v)}</title>'
                   f'</rect><text x="{x + bar / 2:.1f}" y="{top + ph + 16}" text-anchor="middle" class="tick">'
                   f'{escape(label[:12])}</text></g>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(0.0):.1f}" y2="{sy(0.0):.1f}" class="axis"/>'
               f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" class="axis"/></svg>')
    return Markup("".join(out))
