"""Server-rendered SVG line charts (no JavaScript, nothing fetched): one metric over time,
one line per model, with axes, a legend and a ``<title>`` per point for hover values."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence

__all__ = ["PALETTE", "line_chart"]

PALETTE = ("#1b6ac9", "#d9480f", "#2b8a3e", "#862e9c", "#495057", "#c2255c")


def _fmt_day(t: float) -> str:
    return time.strftime("%m-%d", time.gmtime(t))


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float | None]]],
    *,
    title: str,
    width: int = 640,
    height: int = 260,
    floor: float | None = None,
    css_class: str = "chart",
) -> str:
    """An ``<svg>`` (scales with its container through ``viewBox``); values below ``floor``
    are drawn at ``floor`` (their hover text keeps the real value)."""
    pts = [
        (x, y if floor is None else max(floor, y))
        for s in series.values()
        for x, y in s
        if y is not None
    ]
    esc = html.escape
    if not pts:
        return (
            f'<svg class="{css_class}" viewBox="0 0 {width} 60" role="img" '
            f'aria-label="{esc(title)}">'
            f'<text x="10" y="35" class="empty">{esc(title)}: no evaluations yet</text></svg>'
        )
    left, right, top, bottom = 52, 12, 28, 34
    cols = 3 if width >= 500 else 1
    legend_h = 18 * ((len(series) + cols - 1) // cols)
    h = height + legend_h
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.08
    y0, y1 = y0 - pad, y1 + pad
    single = x1 - x0 < 1e-9
    if single:
        x0, x1 = x0 - 3600, x1 + 3600
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [
        f'<svg class="{css_class}" viewBox="0 0 {width} {h}" role="img" aria-label="{esc(title)}">',
        f'<text x="{left}" y="18" class="title">{esc(title)}</text>',
    ]
    digits = 2 if y1 - y0 >= 0.08 else 3
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        yy = sy(yv)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{yy + 4:.1f}" class="tick" text-anchor="end">{yv:.{digits}f}</text>'
        )
    for xv in [(x0 + x1) / 2] if single else [x0 + (x1 - x0) * i / 3 for i in range(4)]:
        out.append(
            f'<text x="{sx(xv):.1f}" y="{height - bottom + 18}" class="tick" '
            f'text-anchor="middle">{_fmt_day(xv)}</text>'
        )
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" class="axis"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
        'class="axis"/>'
    )
    for k, (name, s) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        dash = "" if k == 0 else ' stroke-dasharray="6 3"' if k % 2 else ""
        xy = [
            (sx(x), sy(y if floor is None else max(floor, y)), x, y) for x, y in s if y is not None
        ]
        if len(xy) > 1:
            d = " ".join(
                f"{'M' if i == 0 else 'L'}{a:.1f},{b:.1f}" for i, (a, b, _, _) in enumerate(xy)
            )
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for a, b, x, y in xy:
            out.append(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}">'
                f"<title>{esc(name)} {_fmt_day(x)}: {y:.3f}</title></circle>"
            )
        lx = left + (k % cols) * (pw / cols)
        ly = height + 4 + 18 * (k // cols)
        out.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="12" height="4" fill="{color}"/>'
            f'<text x="{lx + 16:.1f}" y="{ly + 6}" class="legend">{esc(name[:34])}</text>'
        )
    out.append("</svg>")
    return "".join(out)
