"""The planted problems: junk images (blank, scribble, off-class) and near-duplicate transforms.

Images are ``(H, W)`` uint8 like :mod:`dcai.synth.render`; a near duplicate comes back as file
bytes, because a JPEG re-encode is kept as a ``.jpg`` file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from dcai.synth.render import PAPER, Dice, Strokes, Writer, canvas_size, encode_png, handwrite, ink, place

# Off-class symbols as straight strokes in a box of height 1 (y down): letters (L, C, D, M are Roman
# numerals outside i-x), digits and shapes. Arcs are polylines; handwrite bends and jitters them.
_ARC = [
    (0.5 + 0.5 * math.cos(a), 0.5 - 0.5 * math.sin(a)) for a in np.linspace(0.4 * math.pi, 1.6 * math.pi, 9)
]
_RING = [(0.35 + 0.35 * math.cos(a), 0.5 + 0.5 * math.sin(a)) for a in np.linspace(0.0, 2 * math.pi, 13)]
OFF_CLASS: dict[str, tuple[float, Strokes]] = {
    "A": (0.6, [[(0.0, 1.0), (0.3, 0.0), (0.6, 1.0)], [(0.12, 0.6), (0.48, 0.6)]]),
    "E": (0.5, [[(0.5, 0.0), (0.0, 0.0), (0.0, 1.0), (0.5, 1.0)], [(0.0, 0.5), (0.4, 0.5)]]),
    "F": (0.5, [[(0.5, 0.0), (0.0, 0.0), (0.0, 1.0)], [(0.0, 0.5), (0.4, 0.5)]]),
    "H": (0.55, [[(0.0, 0.0), (0.0, 1.0)], [(0.55, 0.0), (0.55, 1.0)], [(0.0, 0.5), (0.55, 0.5)]]),
    "K": (0.5, [[(0.0, 0.0), (0.0, 1.0)], [(0.5, 0.0), (0.0, 0.55), (0.5, 1.0)]]),
    "L": (0.45, [[(0.0, 0.0), (0.0, 1.0), (0.45, 1.0)]]),
    "M": (0.8, [[(0.0, 1.0), (0.0, 0.0), (0.4, 0.7), (0.8, 0.0), (0.8, 1.0)]]),
    "N": (0.55, [[(0.0, 1.0), (0.0, 0.0), (0.55, 1.0), (0.55, 0.0)]]),
    "T": (0.6, [[(0.0, 0.0), (0.6, 0.0)], [(0.3, 0.0), (0.3, 1.0)]]),
    "Y": (0.6, [[(0.0, 0.0), (0.3, 0.5), (0.6, 0.0)], [(0.3, 0.5), (0.3, 1.0)]]),
    "Z": (0.55, [[(0.0, 0.0), (0.55, 0.0), (0.0, 1.0), (0.55, 1.0)]]),
    "C": (0.7, [[(0.7 * x, y) for x, y in _ARC]]),
    "D": (
        0.6,
        [[(0.0, 0.0), (0.0, 1.0)], [(0.0, 0.0)] + [(0.6 - 0.6 * x, y) for x, y in _ARC] + [(0.0, 1.0)]],
    ),
    "4": (0.55, [[(0.4, 1.0), (0.4, 0.0), (0.0, 0.65), (0.55, 0.65)]]),
    "7": (0.5, [[(0.0, 0.0), (0.5, 0.0), (0.15, 1.0)]]),
    "0": (0.7, [_RING]),
    "triangle": (0.8, [[(0.0, 1.0), (0.4, 0.0), (0.8, 1.0), (0.0, 1.0)]]),
    "square": (0.8, [[(0.0, 0.0), (0.8, 0.0), (0.8, 1.0), (0.0, 1.0), (0.0, 0.0)]]),
}
_SYMBOLS = tuple(OFF_CLASS)


def draw_blank(writer: Writer, dice: Dice, *, size_min: int = 48, size_max: int = 128) -> np.ndarray:
    """An empty page, sometimes with a few specks of dust: ``(H, W)`` uint8."""
    w, h = canvas_size(writer, dice, size_min=size_min, size_max=size_max)
    page = np.full((h, w), PAPER, np.uint8)
    if dice.random() < 0.4:
        for _ in range(dice.randint(1, 4)):
            page[dice.randrange(h), dice.randrange(w)] = dice.randint(120, 230)
    return page


def draw_scribble(writer: Writer, dice: Dice, *, size_min: int = 48, size_max: int = 128) -> np.ndarray:
    """One to three random pen curves, no symbol at all: ``(H, W)`` uint8."""
    size = canvas_size(writer, dice, size_min=size_min, size_max=size_max)
    strokes: Strokes = []
    for _ in range(dice.randint(1, 3)):
        x, y, heading = dice.uniform(0.0, 1.0), dice.uniform(0.0, 1.0), dice.uniform(0.0, 2 * math.pi)
        curve = [(x, y)]
        for _ in range(dice.randint(5, 12)):
            # A turning random walk reads as a scrawl, not a letter; turning much more folds it into a blob.
            heading += dice.gauss(0.0, 0.6)
            x, y = x + 0.25 * math.cos(heading), y + 0.25 * math.sin(heading)
            curve.append((x, y))
        strokes.append(curve)
    return _draw_symbol(strokes, writer, dice, size)


def draw_off_class(
    writer: Writer, dice: Dice, *, size_min: int = 48, size_max: int = 128
) -> tuple[np.ndarray, str]:
    """One or two symbols that are not a numeral i-x; returns ``(pixels (H, W), the symbols)``."""
    size = canvas_size(writer, dice, size_min=size_min, size_max=size_max)
    names = [dice.choice(_SYMBOLS) for _ in range(1 if dice.random() < 0.7 else 2)]
    strokes: Strokes = []
    x = 0.0
    for name in names:
        width, parts = OFF_CLASS[name]
        strokes += [[(x + px, py) for px, py in part] for part in parts]
        x += width + writer.spacing
    return _draw_symbol(strokes, writer, dice, size), "+".join(names)


def _draw_symbol(strokes: Strokes, writer: Writer, dice: Dice, size: tuple[int, int]) -> np.ndarray:
    """Fit strokes of any extent to a box of height 1, then write them in the writer's hand."""
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    x0, y0 = min(xs), min(ys)
    scale = 1.0 / max(max(ys) - y0, (max(xs) - x0) / 3.0, 1e-3)  # at most 3 heights wide
    fitted = [[((x - x0) * scale, (y - y0) * scale) for x, y in s] for s in strokes]
    extent = (max(xs) - x0) * scale
    px, height = place(handwrite(fitted, writer, dice), extent, size, writer, dice)
    return ink(px, size, writer, dice, glyph_height=height)


def near_duplicate(
    kind: str, pixels: np.ndarray, dice: Dice, *, redraw: Callable[[int], np.ndarray]
) -> tuple[bytes, str, str]:
    """A near copy of ``pixels`` made by ``kind``; returns ``(file bytes, ".png" or ".jpg", transform)``.

    ``kind`` is one of ``resize, jpeg, shift, crop, thickness, rotate``; ``redraw(width_delta)``
    draws the source again with strokes that much wider (for ``thickness``). The transform string
    records the parameters, e.g. ``"jpeg:q=63"``, ``"rotate:-3.2"``.
    """
    h, w = pixels.shape
    img = Image.fromarray(pixels)
    if kind == "resize":
        f = dice.uniform(0.5, 0.9) if dice.random() < 0.5 else dice.uniform(1.1, 1.5)  # never ~1: must differ
        resized = img.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR)
        return encode_png(np.asarray(resized)), ".png", f"resize:{f:.2f}"
    if kind == "jpeg":
        q = dice.randint(50, 95)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=q)
        if dice.random() < 0.5:
            return buf.getvalue(), ".jpg", f"jpeg:q={q}"
        return encode_png(np.asarray(Image.open(buf).convert("L"))), ".png", f"jpeg:q={q},png"
    if kind == "shift":
        mx, my = max(1, int(0.1 * w)), max(1, int(0.1 * h))
        dx, dy = 0, 0
        while dx == 0 and dy == 0:
            dx, dy = dice.randint(-mx, mx), dice.randint(-my, my)
        out = np.full_like(pixels, PAPER)
        out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = pixels[
            max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
        ]
        return encode_png(out), ".png", f"shift:{dx},{dy}"
    if kind == "crop":
        mx, my = max(1, int(0.1 * w)), max(1, int(0.1 * h))
        left, top = dice.randint(0, mx), dice.randint(0, my)
        right, bottom = dice.randint(0, mx - left), dice.randint(0, my - top)
        if left + top + right + bottom == 0:
            left = 1
        out = pixels[top : h - bottom, left : w - right]
        return encode_png(np.ascontiguousarray(out)), ".png", f"crop:{left},{top},{right},{bottom}"
    if kind == "thickness":
        delta = dice.choice((-1, 1))
        out = redraw(delta)
        if np.array_equal(out, pixels):  # strokes already 1 px wide cannot get thinner
            delta = -delta
            out = redraw(delta)
        return encode_png(out), ".png", f"thickness:{delta:+d}"
    if kind == "rotate":
        angle = dice.uniform(1.0, 5.0) * dice.choice((-1, 1))
        rotated = img.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=PAPER)
        return encode_png(np.asarray(rotated)), ".png", f"rotate:{angle:.1f}"
    raise ValueError(
        f"unknown near-duplicate transform {kind!r}; choose from resize, jpeg, shift, crop, thickness, rotate"
    )
