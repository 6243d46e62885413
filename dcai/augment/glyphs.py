"""Erase-and-recompose: split a ``(H, W[, 3])`` numeral into glyphs and build new numerals from them.

Glyphs are connected components of the ink, merged when their columns overlap (a broken stroke, the
two bars of an X), ordered left to right; serifed numerals are cut into column slices instead. ``VIII`` → ``III`` erases the V; ``IV`` → ``VI`` reorders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dcai.augment.geometry import background, ink_mask
from dcai.imaging import to_gray

MIN_COMPONENT = 0.02  # a component under 2% of the largest one's area is a speck, not a stroke
MERGE_OVERLAP = 0.5  # components sharing half the narrower one's columns belong to one glyph
BAR_RUN = 3.0  # a horizontal run of ink over 3x the typical stroke width is a serif bar, not a stroke
BAR_SHARE = 0.05  # with more than 5% of the ink in bars the numeral is serifed: cut it by columns
# A glyph spans most of the numeral's height; a flat group (a bar's ragged edge left behind when the
# bar is taken out, a dash) under 40% of the tallest group's height is not a glyph.
MIN_HEIGHT = 0.4


@dataclass(frozen=True)
class Glyph:
    top: int
    left: int
    mask: np.ndarray  # (h, w) bool: this glyph's ink inside its bounding box

    @property
    def right(self) -> int:
        return self.left + self.mask.shape[1]


def bars(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: ink on horizontal runs much longer than the typical run (serif bars, e.g. of a
    III drawn with top and bottom bars joining its strokes)."""
    h, w = mask.shape
    d = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts, ends = np.argwhere(d == 1), np.argwhere(d == -1)  # row-major, so they pair up
    if len(starts) == 0:
        return np.zeros_like(mask)
    length = ends[:, 1] - starts[:, 1]
    long = length > BAR_RUN * np.median(length)
    paint = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(paint, (starts[long, 0], starts[long, 1]), 1)
    np.add.at(paint, (ends[long, 0], ends[long, 1]), -1)
    return np.cumsum(paint, axis=1)[:, :w] > 0


def _stroke_groups(strokes: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Label the components of ``strokes``, drop specks, group them by column overlap (left to right),
    drop flat groups."""
    from scipy import ndimage

    labelled, n = ndimage.label(strokes, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return labelled, []
    areas = np.bincount(labelled.ravel(), minlength=n + 1)[1:]
    boxes = ndimage.find_objects(labelled)
    height = np.array([b[0].stop - b[0].start for b in boxes])
    width = np.array([b[1].stop - b[1].start for b in boxes])
    # a wide, flat piece is a bar's ragged edge or a dash; a dot of a dotted stroke is not flat
    flat = (width >= 2 * height) & (height < MIN_HEIGHT * height.max())
    keep = np.flatnonzero((areas >= MIN_COMPONENT * areas.max()) & ~flat) + 1
    spans = sorted((int(boxes[k - 1][1].start), int(boxes[k - 1][1].stop), int(k)) for k in keep)
    groups: list[list[int]] = []
    g_left = g_right = 0
    for left, right, k in spans:
        if groups:
            overlap = min(right, g_right) - max(left, g_left)
            if overlap >= MERGE_OVERLAP * min(right - left, g_right - g_left):
                groups[-1].append(k)
                g_right = max(g_right, right)
                continue
        groups.append([k])
        g_left, g_right = left, right
    extent = [max(boxes[k - 1][0].stop for k in ks) - min(boxes[k - 1][0].start for k in ks) for ks in groups]
    return labelled, [ks for ks, e in zip(groups, extent) if e >= MIN_HEIGHT * max(extent, default=0)]


def _crop(member: np.ndarray, left: int = 0) -> Glyph:
    rows, cols = np.nonzero(member)
    top, bottom, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    return Glyph(int(top), int(left + x0), member[top:bottom, x0:x1])


def segment(image: np.ndarray, *, delta: int = 64) -> list[Glyph]:
    """The glyphs of one image, left to right (empty when there is no ink).

    Strokes are found with serif bars taken out. A plain numeral's glyphs are its stroke components;
    a serifed one is cut into column slices midway between strokes, so each glyph keeps its piece of
    the bars and slices put side by side join up again.
    """
    mask = ink_mask(image, delta=delta)
    if not mask.any():
        return []
    bar = bars(mask)
    labelled, groups = _stroke_groups(mask & ~bar)
    if not groups:
        return []
    if bar.sum() <= BAR_SHARE * mask.sum():
        return [_crop(np.isin(labelled, ks)) for ks in groups]
    cols = [np.flatnonzero(np.isin(labelled, ks).any(axis=0)) for ks in groups]
    ink = np.flatnonzero(mask.any(axis=0))
    cuts = (
        [int(ink[0])]
        + [(int(a[-1]) + 1 + int(b[0])) // 2 for a, b in zip(cols, cols[1:])]
        + [int(ink[-1]) + 1]
    )
    return [_crop(mask[:, a:b], left=a) for a, b in zip(cuts, cuts[1:])]


def choose(source: str, target: str, rng: np.random.Generator) -> list[int] | None:
    """Glyph indices of ``source`` (one character per glyph) spelling ``target``, or None.

    Erasing is preferred: when ``target`` is a run of ``source`` (``iii`` in ``viii``) its glyphs keep
    their spacing. Otherwise each character takes a random glyph of that character (``vi`` from ``iv``).
    """
    if not target or target == source or not set(target) <= set(source):
        return None
    starts = [i for i in range(len(source) - len(target) + 1) if source[i : i + len(target)] == target]
    if starts:
        s = int(rng.choice(starts))
        return list(range(s, s + len(target)))
    where = {c: [i for i, x in enumerate(source) if x == c] for c in set(target)}
    return [int(rng.choice(where[c])) for c in target]


def recompose(image: np.ndarray, glyphs: Sequence[Glyph], order: Sequence[int]) -> np.ndarray:
    """A new image with the glyphs ``order`` side by side on the parent's background.

    Glyphs keep their height and vertical position; the gap between them is the parent's median gap;
    the row is centred on a canvas as wide as the parent (wider if the new numeral needs it).
    """
    if not order:
        raise ValueError("recompose needs at least one glyph")
    h, w = image.shape[:2]
    bg = background(to_gray(image))
    gaps = [b.left - a.right for a, b in zip(glyphs, glyphs[1:])]
    gap = max(0, int(np.median(gaps))) if gaps else max(1, w // 20)  # 0 between serifed slices
    chosen = [glyphs[i] for i in order]
    total = sum(g.mask.shape[1] for g in chosen) + gap * (len(chosen) - 1)
    margin = max(1, min(glyphs[0].left, w - glyphs[-1].right))
    width = max(w, total + 2 * margin)
    canvas = np.full((h, width) + image.shape[2:], bg, dtype=np.uint8)
    x = (width - total) // 2
    for g in chosen:
        gh, gw = g.mask.shape
        src = image[g.top : g.top + gh, g.left : g.left + gw]
        dst = canvas[g.top : g.top + gh, x : x + gw]
        dst[g.mask] = src[g.mask]  # only this glyph's ink: a neighbour inside the box stays erased
        x += gw + gap
    return canvas


def compose(
    image: np.ndarray, label: str, target: str, *, rng: np.random.Generator, delta: int = 64
) -> tuple[np.ndarray | None, str]:
    """``(new image, description)``; the image is None when the parent does not split into ``len(label)`` glyphs."""
    glyphs = segment(image, delta=delta)
    if len(glyphs) != len(label):
        return None, f"unsegmentable: {len(glyphs)} glyph(s) for {label!r}"
    order = choose(label, target, rng)
    if order is None:
        return None, f"{target!r} cannot be spelt from {label!r}"
    return recompose(image, glyphs, order), f"compose {label}->{target} glyphs {','.join(map(str, order))}"
