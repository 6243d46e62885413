"""Tiny stroke images and the near-duplicate transforms: the ground truth of the dedup tests and benchmarks.

:func:`glyph` draws a Roman-numeral-like image ``(H, W)`` uint8 (dark ink on white) from a seed;
:func:`transform` applies one of :data:`TRANSFORMS` within the bounds the dedup stage promises to catch.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TRANSFORMS = ("resize", "jpeg", "shift", "crop", "thicken", "thin", "rotate")


def glyph(rng: np.random.Generator, *, size: int = 64, strokes: int | None = None) -> np.ndarray:
    """A handwriting-like numeral ``(size, size)`` uint8: 1-4 bars, V or X shapes, its own size, place and slant.

    Every control point is jittered and strokes are 3-6 px wide at 64 px, so two draws differ the way
    two people's writing does (a near duplicate has to come from :func:`transform`, not from chance).
    """
    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    n = int(strokes if strokes is not None else rng.integers(1, 5))
    u = size / 64
    width = max(1, round(rng.uniform(3, 6.5) * u))
    h = size * rng.uniform(0.4, 0.8)
    w = min(size * 0.9, h * rng.uniform(0.25, 0.45) * n + 2 * width)
    cx, cy = size * (0.5 + rng.uniform(-0.1, 0.1)), size * (0.5 + rng.uniform(-0.1, 0.1))
    slant = rng.uniform(-0.25, 0.25)
    sd = h * 0.05  # per-point jitter

    def pt(x: float, y: float) -> tuple[float, float]:
        """Glyph coordinates in [0, 1]^2 → canvas, with slant and jitter."""
        gx, gy = (x - 0.5) * w + rng.normal(0, sd), (y - 0.5) * h + rng.normal(0, sd)
        return cx + gx - slant * gy, cy + gy

    slots = np.linspace(0, 1, n + 1)
    for i in range(n):
        x0, x1 = slots[i] + 0.05, slots[i + 1] - 0.05
        mid = (x0 + x1) / 2 + rng.normal(0, 0.05)
        kind = rng.choice(["bar", "vee", "ex"], p=[0.55, 0.3, 0.15])
        if kind == "bar":
            pts = [pt(mid, y) for y in np.linspace(0, 1, int(rng.integers(2, 5)))]
        elif kind == "vee":
            pts = [pt(x0, 0), pt(mid, 1), pt(x1, 0)]
        else:
            draw.line([pt(x0, 0), pt(x1, 1)], fill=0, width=width)
            pts = [pt(x1, 0), pt(x0, 1)]
        draw.line(pts, fill=0, width=width, joint="curve")
        if rng.random() < 0.3:  # a serif or hook at one end
            end = pts[0] if rng.random() < 0.5 else pts[-1]
            draw.line(
                [end, (end[0] + rng.normal(0, 0.12) * w, end[1] + rng.normal(0, 0.06) * h)],
                fill=0,
                width=width,
            )
    return np.asarray(img, dtype=np.uint8)


def transform(pixels: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Apply one near-duplicate transform; returns ``(pixels, description such as "rotate:3.2")``."""
    img = Image.fromarray(pixels)
    w, h = img.size
    if kind == "resize":
        s = float(rng.uniform(0.5, 2.0))
        return np.asarray(
            img.resize((max(8, round(w * s)), max(8, round(h * s))), Image.Resampling.BILINEAR)
        ), f"resize:{s:.2f}"
    if kind == "jpeg":
        q = int(rng.integers(50, 96))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=q)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")), f"jpeg:q={q}"
    if kind == "shift":
        dx, dy = (rng.uniform(-0.1, 0.1, 2) * (w, h)).round().astype(int)
        out = Image.new("L", (w, h), 255)
        out.paste(img, (int(dx), int(dy)))
        return np.asarray(out), f"shift:{dx},{dy}"
    if kind == "crop":
        f = rng.uniform(0, 0.1, 4) * (w, h, w, h)
        box = (round(f[0]), round(f[1]), w - round(f[2]), h - round(f[3]))
        return np.asarray(img.crop(box)), "crop:" + ",".join(str(v) for v in box)
    if kind in ("thicken", "thin"):
        # at twice the resolution a 3x3 min/max filter moves each edge by half a pixel: width ±1 px
        big = img.resize((2 * w, 2 * h), Image.Resampling.NEAREST)
        big = big.filter(ImageFilter.MinFilter(3) if kind == "thicken" else ImageFilter.MaxFilter(3))
        return np.asarray(
            big.resize((w, h), Image.Resampling.BOX)
        ), "stroke:+1" if kind == "thicken" else "stroke:-1"
    if kind == "rotate":
        a = float(rng.uniform(-5, 5))
        return np.asarray(img.rotate(a, resample=Image.Resampling.BILINEAR, fillcolor=255)), f"rotate:{a:.1f}"
    raise ValueError(f"unknown transform {kind!r}; choose from {TRANSFORMS}")


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, compress_level=1) if fmt == "PNG" else Image.fromarray(
        pixels
    ).save(buf, format=fmt)
    return buf.getvalue()
