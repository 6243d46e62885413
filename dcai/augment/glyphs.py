"""Erase-and-recompose: split a ``(H, W[, 3])`` numeral into glyphs and build new numerals from them.

Glyphs are connected components of the ink, merged when their columns overlap (a broken stroke, the
two bars of an X), ordered left to right. ``VIII`` → ``III`` erases the V; ``IV`` → ``VI`` reorders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dcai.augment.geometry import background, ink_mask
from dcai.imaging import to_gray

MIN_COMPONENT = 0.02  # a component under 2% of the largest one's area is a speck, not a stroke
MERGE_OVERLAP = 0.5  # components sharing half the narrower one's columns belong to one glyph


@dataclass(frozen=True)
class Glyph:
    top: int
    left: int
    mask: np.ndarray  # (h, w) bool: this glyph's ink inside its bounding box

    @property
    def right(self) -> int:
        return self.left + self.mask.shape[1]


def segment(image: np.ndarray, *, delta: int = 64) -> list[Glyph]:
    """The glyphs of one image, left to right (empty when there is no ink)."""
    from scipy import ndimage

    mask = ink_mask(image, delta=delta)
    labelled, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    areas = np.bincount(labelled.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(areas >= MIN_COMPONENT * areas.max()) + 1
    boxes = ndimage.find_objects(labelled)
    spans = sorted((int(boxes[k - 1][1].start), int(boxes[k - 1][1].stop), int(k)) for k in keep)
    # Merge components into glyphs by column overlap, scanning left to right.
    groups: list[list[int]] = []
    g_left = g_right = 0
    for left, right, k in spans:
        if groups:
            overlap = min(right, g_right) - max(left, g_left)
            narrower = min(right - left, g_right - g_left)
            if overlap >= MERGE_OVERLAP * narrower:
                groups[-1].append(k)
                g_right = max(g_right, right)
                continue
        groups.append([k])
        g_left, g_right = left, right
    glyphs = []
    for ks in groups:
        member = np.isin(labelled, ks)
        rows, cols = np.nonzero(member)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        glyphs.append(Glyph(int(top), int(left), member[top:bottom, left:right]))
    return glyphs


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
    gap = max(1, int(np.median(gaps))) if gaps else max(1, w // 20)
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
