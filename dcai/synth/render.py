"""Handwritten-style Roman numerals drawn from pen strokes: pure numpy + PIL, no Ray.

Every ``draw_*`` returns a grayscale ``(H, W)`` uint8 image: ink 0 or 64 on white 255, the palette
of the competition data. A :class:`Writer` holds one person's style; a :class:`Dice` varies each image.
"""

from __future__ import annotations

import functools
import math
import random
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")
INK, GRAY_INK, PAPER = 0, 64, 255
_LETTER_WIDTH = {"I": 0.0, "V": 0.58, "X": 0.58}  # in glyph heights, before the writer's aspect
_SERIF = 0.3  # width of the short bars some writers put on I, in glyph heights
# Points inside each straight segment: (fraction along it, how far it bows; most in the middle).
_STEPS = tuple((t, math.sin(math.pi * t)) for t in (0.25, 0.5, 0.75))
_VERTEX_STRIDE = 2 * (len(_STEPS) + 1)  # in a flat [x0, y0, x1, ...] list, where the corners are

Strokes = list[list[tuple[float, float]]]  # points (x, y) in glyph heights, y pointing down


@functools.lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    return np.random.default_rng(0x5EED).standard_normal(1 << 18)


class Dice(random.Random):
    """The random draws of one image, a pure function of ``(seed, index, stream)``.

    Python's generator costs ~0.1 µs a scalar against ~1-10 µs for numpy's, and images take dozens;
    arrays (pen tremor) are slices of a fixed normal table at a random offset.
    """

    def __init__(self, seed: int, index: int, stream: int = 0):
        super().__init__((seed << 52) | (index << 4) | stream)  # distinct for index < 2**48, stream < 16

    def normals(self, n: int) -> np.ndarray:
        table = _normal_table()
        start = self.randrange(len(table) - n)
        return table[start : start + n]


@dataclass(frozen=True)
class Writer:
    """One writer's habits; each image then varies a little around them."""

    canvas: float  # typical canvas side, pixels
    size: float  # glyph height as a fraction of the shorter canvas side
    width: float  # stroke width as a fraction of glyph height
    pressure: int  # +- pixels of stroke width from stroke to stroke
    slant: float  # shear: x moves by slant per glyph height
    jitter: float  # per-point hand tremor, glyph heights
    wobble: float  # bend of each straight segment, glyph heights
    aspect: float  # how wide V and X are drawn
    spacing: float  # gap between letters, glyph heights
    cx: float  # preferred centre in the canvas, fractions
    cy: float
    ink: int  # 0 or 64
    ink_mix: float  # chance that a stroke uses the other ink
    serif: float  # chance of bars on a lone I
    bars: bool  # bars across the whole numeral's top and bottom, like a printed Ⅲ
    lower: bool  # lower-case: dotted i, short v and x


@functools.lru_cache(maxsize=65536)
def writer_style(seed: int, writer: int, *, size_min: int = 48, size_max: int = 128) -> Writer:
    """The style of writer number ``writer``: a pure function of ``(seed, writer)``."""
    d = Dice(seed, writer, stream=15)
    lower = d.random() < 0.15
    width = d.uniform(0.04, 0.13)
    return Writer(
        canvas=d.uniform(size_min, size_max),
        size=d.uniform(0.35, 0.75),
        width=width,
        pressure=d.randrange(2),
        slant=d.gauss(0.0, 0.15),
        jitter=d.uniform(0.003, 0.02),
        wobble=d.uniform(0.0, 0.06),
        aspect=d.uniform(0.7, 1.35),
        spacing=d.uniform(max(0.06, 1.6 * width), 0.4),  # letters must not melt into one blob
        cx=d.uniform(0.35, 0.65),
        cy=d.uniform(0.35, 0.65),
        ink=INK if d.random() < 0.6 else GRAY_INK,
        ink_mix=d.uniform(0.0, 0.3),
        serif=0.0 if lower else d.choice((0.0, 0.0, 0.5, 1.0)),
        bars=not lower and d.random() < 0.15,
        lower=lower,
    )


def canvas_size(writer: Writer, dice: Dice, *, size_min: int, size_max: int) -> tuple[int, int]:
    """``(width, height)`` near the writer's habit, within ``[size_min, size_max]``."""
    w = writer.canvas * math.exp(dice.gauss(0.0, 0.08))
    h = writer.canvas * math.exp(dice.gauss(0.0, 0.08))
    return int(min(max(round(w), size_min), size_max)), int(min(max(round(h), size_min), size_max))


def numeral_strokes(letters: str, writer: Writer, dice: Dice) -> tuple[Strokes, float]:
    """Straight strokes of ``letters`` (``"IX"``) laid out left to right; returns ``(strokes, width)``."""
    aspect = writer.aspect * dice.uniform(0.9, 1.1)
    gap = writer.spacing * dice.uniform(0.8, 1.25)
    top = 0.4 if writer.lower else 0.0  # lower-case letters are x-height tall
    barred = writer.bars and letters != "I"
    strokes: Strokes = []
    x = 0.0
    for k, ch in enumerate(letters):
        x += gap if k else 0.0
        if ch == "I":
            serif = not barred and not writer.lower and dice.random() < writer.serif
            half = _SERIF / 2 if serif else 0.0
            c = x + half
            strokes.append([(c, top), (c, 1.0)])
            if serif:
                strokes += [[(c - half, 0.0), (c + half, 0.0)], [(c - half, 1.0), (c + half, 1.0)]]
            if writer.lower:  # the dot, as a very short stroke
                strokes.append([(c, 0.12), (c + 0.03, 0.15)])
            x += 2 * half
        else:
            w = _LETTER_WIDTH[ch] * aspect
            if ch == "V":
                strokes.append([(x, top), (x + w / 2, 1.0), (x + w, top)])
            else:
                strokes += [[(x, top), (x + w, 1.0)], [(x + w, top), (x, 1.0)]]
            x += w
    if barred:
        strokes += [[(-0.08, 0.0), (x + 0.08, 0.0)], [(-0.08, 1.0), (x + 0.08, 1.0)]]
    return strokes, x


def handwrite(strokes: Strokes, writer: Writer, dice: Dice) -> Strokes:
    """Jitter the vertices, bend each straight segment and add tremor along it, as a hand does.

    Plain Python floats: a numeral has ~40 points, too few for numpy's per-call overhead to pay off.
    """
    n_vert = sum(len(s) for s in strokes)
    n_seg = n_vert - len(strokes)
    z = iter(dice.normals(2 * n_vert + n_seg * (1 + 2 * len(_STEPS))).tolist())
    jit, wob = writer.jitter, writer.wobble
    out = []
    for stroke in strokes:
        vs = [(x + jit * next(z), y + jit * next(z)) for x, y in stroke]
        pts = [vs[0]]
        for (px, py), (qx, qy) in zip(vs, vs[1:]):
            dx, dy = qx - px, qy - py
            bend = wob * next(z) / (math.hypot(dx, dy) or 1e-6)  # along the unit normal (-dy, dx)
            for t, bow in _STEPS:
                pts.append(
                    (
                        px + t * dx - bend * bow * dy + jit * next(z),
                        py + t * dy + bend * bow * dx + jit * next(z),
                    )
                )
            pts.append((qx, qy))
        out.append(pts)
    return out


def place(
    strokes: Strokes, extent: float, size: tuple[int, int], writer: Writer, dice: Dice, *, scale: float = 1.0
) -> tuple[list[list[float]], float]:
    """Rotate, slant, scale and position strokes; returns ``(flat [x0, y0, x1, ...] per stroke, glyph height px)``."""
    w, h = size
    slant = writer.slant + dice.gauss(0.0, 0.04)
    height = writer.size * min(w, h) * dice.uniform(0.9, 1.1) * scale
    # Slant shifts x by up to |slant|; serifs, bars and the pen reach about 0.2 beyond the strokes.
    span = extent + abs(slant) + 0.4
    height = min(height, 0.95 * w / span, 0.8 * h)
    cx = min(max(writer.cx + dice.gauss(0.0, 0.05), 0.0), 1.0)
    cy = min(max(writer.cy + dice.gauss(0.0, 0.05), 0.0), 1.0)
    angle = math.radians(dice.gauss(0.0, 2.0))
    c, s = math.cos(angle) * height, math.sin(angle) * height
    # One affine map about the numeral's centre (mx, 0.5): rotate, shear by the slant, scale, move.
    mx = extent / 2
    ox = (w - span * height) * cx + 0.2 * height + (mx + abs(slant) / 2) * height
    oy = (h - 1.2 * height) * cy + 0.1 * height + 0.5 * height
    a11, a12, a21, a22 = c - slant * s, -s, s + slant * c, c  # rotation @ shear, as row-vector maps
    out = []
    for stroke in strokes:
        flat: list[float] = []
        for x, y in stroke:
            x, y = x - mx, y - 0.5
            flat += (x * a11 + y * a21 + ox, x * a12 + y * a22 + oy)
        out.append(flat)
    return out, height


def ink(
    strokes: list[list[float]],
    size: tuple[int, int],
    writer: Writer,
    dice: Dice,
    *,
    glyph_height: float,
    width_delta: int = 0,
) -> np.ndarray:
    """Draw pixel strokes with the writer's pen: ``(H, W)`` uint8."""
    img = Image.new("L", size, PAPER)
    draw = ImageDraw.Draw(img)
    base = max(1, round(writer.width * glyph_height))
    for s in strokes:
        # Every stroke draws the same random numbers whatever width_delta is, so a "thicker strokes"
        # near duplicate differs from its source in stroke width only.
        width = max(1, base + dice.randint(-writer.pressure, writer.pressure) + width_delta)
        fill = GRAY_INK + INK - writer.ink if dice.random() < writer.ink_mix else writer.ink
        draw.line(s, fill=fill, width=width)
        if width >= 3:
            # A round pen: PIL squares off wide lines, so dab a disc on each corner and tip (the
            # points between corners bend too little to notch). Cheaper than joint="curve".
            r = width / 2 - 0.5
            for k in range(0, len(s), _VERTEX_STRIDE):
                x, y = s[k], s[k + 1]
                draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    return np.asarray(img)


def draw_numeral(
    label: int, writer: Writer, dice: Dice, *, size_min: int = 48, size_max: int = 128, width_delta: int = 0
) -> np.ndarray:
    """Class ``CLASSES[label]`` in the writer's hand, ``(H, W)`` uint8."""
    size = canvas_size(writer, dice, size_min=size_min, size_max=size_max)
    strokes, extent = numeral_strokes(CLASSES[label].upper(), writer, dice)
    px, height = place(handwrite(strokes, writer, dice), extent, size, writer, dice)
    return ink(px, size, writer, dice, glyph_height=height, width_delta=width_delta)


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(pixels: np.ndarray) -> bytes:
    """``(H, W)`` uint8 → grayscale PNG bytes (the "Up" filter, zlib level 1).

    Written out directly: on 100 px images PIL's PNG writer spends ~10x longer in Python set-up
    than zlib spends compressing. The "Up" filter zeroes the rows a vertical stroke repeats.
    """
    h, w = pixels.shape
    rows = np.empty((h, w + 1), np.uint8)
    rows[:, 0] = 2  # filter type "Up": each byte minus the byte above it, modulo 256
    rows[0, 1:] = pixels[0]
    np.subtract(pixels[1:], pixels[:-1], out=rows[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
        + _chunk(b"IEND", b"")
    )
