"""Tiny stroke images and the near-duplicate transforms, for tests and benchmarks that need ground truth.

:func:`glyph` draws a Roman-numeral-like image ``(H, W)`` uint8 (dark ink on white) from a seed;
:func:`transform` applies one of :data:`TRANSFORMS` within the bounds the dedup stage promises to catch.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TRANSFORMS = ("resize", "jpeg", "shift", "crop", "thicken", "thin", "rotate")


def glyph(rng: np.random.Generator, *, size: int = 64, strokes: int | None = None) -> np.ndarray:
    """A handwriting-like numeral: 1-4 bars and V/X shapes with jittered ends and width 2-5 px."""
    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    n = int(strokes if strokes is not None else rng.integers(1, 5))
    width = int(rng.integers(2, 6))
    top, bottom = size * rng.uniform(0.12, 0.3), size * rng.uniform(0.7, 0.88)
    left, right = size * rng.uniform(0.08, 0.25), size * rng.uniform(0.75, 0.92)
    slots = np.linspace(left, right, n + 1)
    for i in range(n):
        x0, x1 = slots[i], slots[i + 1]
        kind = rng.choice(["bar", "vee", "ex"], p=[0.6, 0.25, 0.15])
        j = lambda: float(rng.normal(0, size * 0.03))  # noqa: E731 - per-point jitter: no two glyphs alike
        mid = (x0 + x1) / 2
        if kind == "bar":
            pts = [
                (mid + j(), top + j()),
                (mid + j() + size * 0.04 * rng.normal(), (top + bottom) / 2 + j()),
                (mid + j(), bottom + j()),
            ]
            draw.line(pts, fill=0, width=width, joint="curve")
        elif kind == "vee":
            draw.line(
                [(x0 + j(), top + j()), (mid + j(), bottom + j()), (x1 + j(), top + j())], fill=0, width=width
            )
        else:
            draw.line([(x0 + j(), top + j()), (x1 + j(), bottom + j())], fill=0, width=width)
            draw.line([(x1 + j(), top + j()), (x0 + j(), bottom + j())], fill=0, width=width)
    return np.asarray(img, dtype=np.uint8)


def transform(pixels: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Apply one near-duplicate transform; returns ``(pixels, description such as "rotate:3.2")``."""
    img = Image.fromarray(pixels)
    w, h = img.size
    if kind == "resize":
        s = float(rng.uniform(0.5, 2.0))
        return np.asarray(
            img.resize((max(8, round(w * s)), max(8, round(h * s))), Image.BILINEAR)
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
        big = img.resize((2 * w, 2 * h), Image.NEAREST)
        big = big.filter(ImageFilter.MinFilter(3) if kind == "thicken" else ImageFilter.MaxFilter(3))
        return np.asarray(big.resize((w, h), Image.BOX)), "stroke:+1" if kind == "thicken" else "stroke:-1"
    if kind == "rotate":
        a = float(rng.uniform(-5, 5))
        return np.asarray(img.rotate(a, resample=Image.BILINEAR, fillcolor=255)), f"rotate:{a:.1f}"
    raise ValueError(f"unknown transform {kind!r}; choose from {TRANSFORMS}")


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, compress_level=1) if fmt == "PNG" else Image.fromarray(
        pixels
    ).save(buf, format=fmt)
    return buf.getvalue()
