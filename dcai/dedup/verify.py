"""Verify candidate pairs on the normalised ink masks: ``(M, S, S)`` bool pairs → ``(M,)`` similarity in [0, 1].

The similarity is the smaller of two tolerant containments: the share of A's ink within ``radius``
cells of B's ink, and of B's within ``radius`` of A's. One cell of tolerance absorbs the jitter left
by rotation, crop and stroke width; taking the smaller side means a glyph is not a duplicate of a
glyph that merely contains it. Two scale-free scalars gate the pair as well (see :func:`gates`).
"""

from __future__ import annotations

import numpy as np


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``(M, S, S)`` bool grown by ``radius`` cells (square neighbourhood, no wrap-around)."""
    if radius <= 0:
        return mask
    m, s, _ = mask.shape
    padded = np.pad(mask, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[:, dy : dy + s, dx : dx + s]
    return out


def similarity(mask_a: np.ndarray, mask_b: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """``min(|A ∩ grow(B)| / |A|, |B ∩ grow(A)| / |B|)`` per pair; 0 where either mask is empty."""
    a, b = mask_a.reshape(len(mask_a), -1), mask_b.reshape(len(mask_b), -1)
    ga = dilate(mask_a, radius).reshape(len(mask_a), -1)
    gb = dilate(mask_b, radius).reshape(len(mask_b), -1)
    na, nb = a.sum(axis=1), b.sum(axis=1)
    in_a = (a & gb).sum(axis=1) / np.maximum(na, 1)
    in_b = (b & ga).sum(axis=1) / np.maximum(nb, 1)
    return np.where((na > 0) & (nb > 0), np.minimum(in_a, in_b), 0.0)


def ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``max(x, y) / min(x, y)`` per pair (infinite where one is zero)."""
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    return np.where(lo > 0, hi / np.where(lo > 0, lo, 1), np.inf)


def gates(
    extent_a: np.ndarray,
    extent_b: np.ndarray,
    stroke_a: np.ndarray,
    stroke_b: np.ndarray,
    *,
    max_extent_ratio: float,
    max_stroke_ratio: float,
) -> np.ndarray:
    """``(M,)`` bool: glyph sizes (relative to the canvas) and stroke widths (relative to the glyph) agree.

    Both survive resize, JPEG and shift unchanged and crop, rotation or a 1 px stroke change within
    the default ratios, while two different writings of a short stroke (an ``i``) usually differ in one.
    """
    return (ratio(extent_a, extent_b) <= max_extent_ratio) & (ratio(stroke_a, stroke_b) <= max_stroke_ratio)


def verify_table(
    batch, *, size: int, radius: int, threshold: float, max_extent_ratio: float, max_stroke_ratio: float
):
    """``map_batches`` adapter: joined pairs (``a, b, mask_a, mask_b, extent_a, ...``) → ``a, b, score`` accepted only."""
    import pyarrow as pa

    from dcai.dedup.sketch import mask_array

    if batch.num_rows == 0:
        return pa.table(
            {
                "a": pa.array([], pa.int64()),
                "b": pa.array([], pa.int64()),
                "score": pa.array([], pa.float32()),
            }
        )
    score = similarity(
        mask_array(batch.column("mask_a"), size), mask_array(batch.column("mask_b"), size), radius=radius
    )
    col = {k: batch.column(k).to_numpy() for k in ("extent_a", "extent_b", "stroke_a", "stroke_b")}
    ok = (score >= threshold) & gates(
        col["extent_a"],
        col["extent_b"],
        col["stroke_a"],
        col["stroke_b"],
        max_extent_ratio=max_extent_ratio,
        max_stroke_ratio=max_stroke_ratio,
    )
    keep = np.flatnonzero(ok)
    return pa.table(
        {
            "a": pa.array(batch.column("a").to_numpy()[keep], pa.int64()),
            "b": pa.array(batch.column("b").to_numpy()[keep], pa.int64()),
            "score": pa.array(score[keep].astype(np.float32)),
        }
    )
