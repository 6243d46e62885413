"""Inline SVG charts for the HTML report (no JavaScript, no external files)."""

from __future__ import annotations

from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac")


def grouped_bars(
    groups: list[str], series: dict[str, list[float]], *, title: str = "", height: int = 220
) -> str:
    """Bars per group (x axis), one colour per series; ``series[name][i]`` is the value for ``groups[i]``."""
    names = list(series)
    top = max([v for vals in series.values() for v in vals] + [1])
    bar_w, gap, left, bottom = 10, 14, 40, 40
    group_w = max(1, len(names)) * bar_w + gap
    width = left + group_w * len(groups) + 160
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom}" role="img">'
    ]
    if title:
        parts.append(f'<text x="{left}" y="12" font-size="12" font-weight="bold">{escape(title)}</text>')
    for frac in (0, 0.5, 1):
        y = 20 + (1 - frac) * (height - 20)
        parts.append(
            f'<line x1="{left}" x2="{left + group_w * len(groups)}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{top * frac:.0f}</text>'
        )
    for gi, g in enumerate(groups):
        x0 = left + gi * group_w
        for si, name in enumerate(names):
            v = series[name][gi]
            h = (height - 20) * v / top
            parts.append(
                f'<rect x="{x0 + si * bar_w}" y="{height - h:.1f}" width="{bar_w - 1}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(name)} / {escape(g)}: {v:g}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + group_w / 2 - gap / 2:.1f}" y="{height + 14}" font-size="11" text-anchor="middle">{escape(g)}</text>'
        )
    lx = left + group_w * len(groups) + 12
    for si, name in enumerate(names):
        parts.append(
            f'<rect x="{lx}" y="{24 + si * 16}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{33 + si * 16}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: dict[str, list[tuple[float, float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    width: int = 480,
    height: int = 220,
) -> str:
    """One polyline per series of ``(x, y)`` points, with dots (e.g. Tune trials: step vs accuracy)."""
    allp = [p for ps in points.values() for p in ps] or [(0.0, 0.0), (1.0, 1.0)]
    xs, ys = [p[0] for p in allp], [p[1] for p in allp]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    left, bottom, pad = 44, 30, 16

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - pad)

    def sy(y: float) -> float:
        return pad + (1 - (y - y0) / (y1 - y0)) * (height - pad - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(f'<text x="{left}" y="11" font-size="12" font-weight="bold">{escape(title)}</text>')
    parts.append(
        f'<text x="{width / 2}" y="{height - 4}" font-size="10" text-anchor="middle">{escape(xlabel)}</text>'
    )
    parts.append(
        f'<text x="10" y="{height / 2}" font-size="10" transform="rotate(-90 10 {height / 2})" text-anchor="middle">{escape(ylabel)}</text>'
    )
    for v in (y0, (y0 + y1) / 2, y1):
        parts.append(
            f'<text x="{left - 4}" y="{sy(v) + 3:.1f}" font-size="9" text-anchor="end">{v:.3g}</text>'
        )
    for i, (name, ps) in enumerate(points.items()):
        color = PALETTE[i % len(PALETTE)]
        if len(ps) > 1:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ps)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{d}"/>')
        for x, y in ps:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"><title>{escape(name)}: {y:.4g}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)
