"""Verify candidate pairs on the normalised ink masks: ``(M, S, S)`` bool pairs → ``(M,)`` similarity in [0, 1].

The similarity is the smaller of two tolerant containments: the share of A's ink within ``radius``
cells of B's ink, and of B's within ``radius`` of A's. One cell of tolerance absorbs the jitter left
by rotation, crop and stroke width; taking the smaller side means a glyph is not a duplicate of a
glyph that merely contains it. The pair must also be geometrically consistent with one of the promised
transforms (see :func:`gate`): that, not the mask, is what separates look-alike glyphs.

Both run as compiled loops (numba, see ``dcai.dedup._jit``): a 1 M-image run gates ~250 M candidate
pairs, where numpy's temporaries cost ~0.4 µs a pair for the gate and ~10 µs for the overlap of
unpacked masks. The masks stay packed: a mask row of ``S <= 56`` cells is one 64-bit word, grown by
shifts and OR, and an overlap is a popcount.
"""

from __future__ import annotations

import math

import numpy as np

from dcai.dedup._jit import jit, popcount
from dcai.dedup.join import FEATURES
from dcai.dedup.normalise import pack, packed_masks

MAX_SIZE = 56  # mask side a row word holds (with the 7 bits a row may start into its first byte)
GEOMETRY = tuple(k for k in FEATURES if k != "mask")  # the per-image scalars gate() reads
GATE_OPTIONS = (
    "scale_tol",
    "crop_max",
    "crop_tol",
    "resize_tol",
    "aspect_tol",
    "place_tol",
    "turn_tol",
    "cut_tol",
)


def similarity(mask_a: np.ndarray, mask_b: np.ndarray, *, radius: int = 1) -> np.ndarray:
    """``min(|A ∩ grow(B)| / |A|, |B ∩ grow(A)| / |B|)`` per pair of ``(M, S, S)`` bool masks; 0 where
    either mask is empty. ``grow``: every cell within ``radius`` (a square), no wrap-around."""
    size = mask_a.shape[-1]
    _check_size(size)
    packed = np.concatenate([pack(mask_a), pack(mask_b)])
    m = len(mask_a)
    return _overlaps(packed, np.arange(m), np.arange(m, 2 * m), size, radius)


def _check_size(size: int) -> None:
    if size > MAX_SIZE:
        raise ValueError(f"dedup: mask size {size} is above {MAX_SIZE}, the widest row the verifier packs")


def _tolerances(options: dict) -> np.ndarray:
    """The gate tolerances in ``GATE_OPTIONS`` order. Every one is required: their values live in one
    place, ``DedupConfig`` (``DedupConfig().gate_options()`` gives the stage's)."""
    unknown, missing = set(options) - set(GATE_OPTIONS), set(GATE_OPTIONS) - set(options)
    if unknown or missing:
        raise TypeError(
            f"gate options: unknown {sorted(unknown)}, missing {sorted(missing)}; need exactly {GATE_OPTIONS} "
            "(DedupConfig().gate_options() gives the stage's)"
        )
    return np.array([options[k] for k in GATE_OPTIONS], np.float64)


def _columns(feats: dict) -> tuple:
    """The geometry as the compiled gate reads it (``GEOMETRY`` order): canvas sides int64, the rest
    float32 (as stored)."""
    return tuple(
        np.ascontiguousarray(feats[k], np.int64 if k.startswith("canvas") else np.float32) for k in GEOMETRY
    )


def gate(a: dict[str, np.ndarray], b: dict[str, np.ndarray], **options: float) -> np.ndarray:
    """``(M,)`` bool: could one image of each pair be the other after one of the promised transforms?

    ``a``, ``b``: per pair ``canvas_w``, ``canvas_h``, the ink's spread ``sx, sy`` and pixel count
    ``area`` (original pixels), its centroid ``cx, cy`` (canvas fractions) and ``edge`` (ink touches the
    border), see ``normalise.geometry``. ``options``: every one of ``GATE_OPTIONS`` (the stage's values
    and why: ``DedupConfig``); logs (0.1 = 10 %) except ``place_tol`` and ``turn_tol`` (canvas
    fractions). A pair passes as

    - **same canvas** (JPEG, shift, rotation and a 1 px stroke change keep it exactly): equal canvas size,
      and either ``sx``, ``sy``, ``area`` within ``crop_tol`` (JPEG, shift: nothing resampled) or the
      centroid within ``turn_tol`` of the canvas and the overall spread ``hypot(sx, sy)`` within
      ``scale_tol`` (rotation about the canvas centre, a 1 px stroke change on a small glyph); an image
      whose ink touches its border may have lost up to ``cut_tol`` of it there (shift or crop);
    - **crop** (≤ 10 % a side): one canvas inside the other, at most ``crop_max`` smaller per side; no
      pixel is resampled, so ``sx``, ``sy`` and ``area`` agree within ``crop_tol`` and the centroid moved,
      in pixels, by no more than the canvas lost on that axis;
    - **resize**: both sides scaled alike (``aspect_tol``), ``sx`` and ``sy`` scaled by the same factor
      (within ``resize_tol`` plus one pixel of the smaller image: bilinear blur moves thin strokes) and
      the centroid at the same canvas fraction (``place_tol``).

    The 32×32 mask cannot tell two writings of one short stroke apart (they normalise to the same
    blob); these invariants can: a distinct image comes with its own canvas, size and placement.
    """
    m = len(np.asarray(a["area"]))
    both = {k: np.concatenate([np.asarray(a[k]), np.asarray(b[k])]) for k in GEOMETRY}
    return _gates(_columns(both), np.arange(m), np.arange(m, 2 * m), _tolerances(options))


@jit
def _log_ratio(x, y):
    """``log(x / y)``, infinite where either is zero (no ink: nothing is consistent with it)."""
    return math.log(x / y) if x > 0 and y > 0 else math.inf


@jit
def _kept(i, j, sx, sy, area, crop_tol, cut_tol, ea, eb):
    """No resampling (JPEG, shift, crop): spread and pixel count kept. Ink touching one image's border may
    have been cut off there (shift, crop): that image may hold up to ``cut_tol`` less ink (never more),
    and both spreads may differ by ``cut_tol``."""
    lar = _log_ratio(float(area[i]), float(area[j]))
    if not ((-cut_tol if ea else -crop_tol) <= lar <= (cut_tol if eb else crop_tol)):
        return False
    spread_tol = cut_tol if ea or eb else crop_tol
    return (
        abs(_log_ratio(float(sx[i]), float(sx[j]))) <= spread_tol
        and abs(_log_ratio(float(sy[i]), float(sy[j]))) <= spread_tol
    )


@jit
def _gate_pair(i, j, w, h, sx, sy, area, cx, cy, edge, tol):
    """:func:`gate` of images ``i`` and ``j``, cheapest tests first. Spreads and areas compare in
    float64, centroid differences in float32 (the stored precision)."""
    scale_tol, crop_max, crop_tol, resize_tol, aspect_tol = tol[0], tol[1], tol[2], tol[3], tol[4]
    place_tol, turn_tol, cut_tol = np.float32(tol[5]), np.float32(tol[6]), tol[7]
    if not (area[i] > 0 and area[j] > 0):
        return False
    wa, ha, wb, hb = float(w[i]), float(h[i]), float(w[j]), float(h[j])
    ea, eb = edge[i] > 0, edge[j] > 0
    if wa == wb and ha == hb:
        # same canvas: the ink moved without resampling, or it stayed in place (rotation about the canvas
        # centre moves the centroid by <= 5° x its distance from the centre, a stroke change not at all)
        # and its overall spread changed by at most scale_tol
        if _kept(i, j, sx, sy, area, crop_tol, cut_tol, ea, eb):
            return True
        if not (abs(cx[i] - cx[j]) <= turn_tol and abs(cy[i] - cy[j]) <= turn_tol):
            return False
        return abs(_log_ratio(float(np.hypot(sx[i], sy[i])), float(np.hypot(sx[j], sy[j])))) <= scale_tol
    lw, lh = _log_ratio(wa, wb), _log_ratio(ha, hb)
    a_big = wa * ha >= wb * hb
    sign = 1.0 if a_big else -1.0
    # crop: the larger canvas lost 0..crop_max per side; its centroid, in pixels, sits further right
    # (down) by what was cut on the left (top): between 0 and the width (height) lost, 1.5 px of slack
    if 0 <= sign * lw <= crop_max and 0 <= sign * lh <= crop_max:
        dx = sign * (float(cx[i]) * wa - float(cx[j]) * wb)
        dy = sign * (float(cy[i]) * ha - float(cy[j]) * hb)
        if (
            -1.5 <= dx <= abs(wa - wb) + 1.5
            and -1.5 <= dy <= abs(ha - hb) + 1.5
            and _kept(i, j, sx, sy, area, crop_tol, cut_tol, ea, eb)
        ):
            return True
    # resize: scale the smaller image's spread up by the canvas factor f; bilinear blur may move a thin
    # stroke's spread by about a pixel of the smaller image, hence the f * 1 px of slack
    if not (
        abs(cx[i] - cx[j]) <= place_tol and abs(cy[i] - cy[j]) <= place_tol and abs(lw - lh) <= aspect_tol
    ):
        return False
    f = math.exp(abs(0.5 * (lw + lh)))
    big, small = (i, j) if a_big else (j, i)
    bx, by = float(sx[big]), float(sy[big])
    return (
        abs(bx - f * float(sx[small])) <= resize_tol * bx + 0.5 * f
        and abs(by - f * float(sy[small])) <= resize_tol * by + 0.5 * f
    )


@jit
def _gates(columns, a, b, tol):
    sx, sy, area, cx, cy, edge, w, h = columns
    out = np.empty(len(a), np.bool_)
    for k in range(len(a)):
        out[k] = _gate_pair(a[k], b[k], w, h, sx, sy, area, cx, cy, edge, tol)
    return out


@jit
def _rows(packed, i, size, out):
    """Image ``i``'s mask rows (``np.packbits`` order: row-major, first cell in the high bit) as words."""
    full = (np.uint64(1) << np.uint64(size)) - np.uint64(1)
    for y in range(size):
        start = y * size
        first, last = start >> 3, (start + size - 1) >> 3
        word = np.uint64(0)
        for k in range(first, last + 1):
            word = (word << np.uint64(8)) | np.uint64(packed[i, k])
        out[y] = (word >> np.uint64((last - first + 1) * 8 - (start & 7) - size)) & full


@jit
def _grow(rows, radius, size, out):
    """Rows dilated by ``radius`` cells (a square), no wrap-around."""
    full = (np.uint64(1) << np.uint64(size)) - np.uint64(1)
    for y in range(size):
        acc = np.uint64(0)
        for yy in range(max(0, y - radius), min(size, y + radius + 1)):
            r = rows[yy]
            acc |= r
            for d in range(1, radius + 1):
                acc |= ((r << np.uint64(d)) & full) | (r >> np.uint64(d))
        out[y] = acc


@jit
def _overlap(packed, i, j, size, radius, ra, rb, ga, gb):
    _rows(packed, i, size, ra)
    _rows(packed, j, size, rb)
    _grow(ra, radius, size, ga)
    _grow(rb, radius, size, gb)
    na = nb = in_a = in_b = 0
    for y in range(size):
        na += popcount(ra[y])
        nb += popcount(rb[y])
        in_a += popcount(ra[y] & gb[y])
        in_b += popcount(rb[y] & ga[y])
    if na == 0 or nb == 0:
        return 0.0
    return min(in_a / na, in_b / nb)


@jit
def _overlaps(packed, a, b, size, radius):
    bufs = np.zeros((4, size), np.uint64)
    out = np.empty(len(a))
    for k in range(len(a)):
        out[k] = _overlap(packed, a[k], b[k], size, radius, bufs[0], bufs[1], bufs[2], bufs[3])
    return out


@jit
def _verify_pairs(columns, packed, a, b, size, radius, threshold, tol):
    sx, sy, area, cx, cy, edge, w, h = columns
    keep, score = np.empty(len(a), np.int64), np.empty(len(a))
    bufs = np.zeros((4, size), np.uint64)
    m = 0
    for k in range(len(a)):
        if not _gate_pair(a[k], b[k], w, h, sx, sy, area, cx, cy, edge, tol):
            continue
        s = _overlap(packed, a[k], b[k], size, radius, bufs[0], bufs[1], bufs[2], bufs[3])
        if s >= threshold:
            keep[m], score[m] = k, s
            m += 1
    return keep[:m].copy(), score[:m].copy()


def verify_pairs(
    a: np.ndarray,
    b: np.ndarray,
    feats: dict[str, np.ndarray],
    *,
    size: int,
    radius: int,
    threshold: float,
    **gate_options,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a[i], b[i])`` of rows of ``feats`` → ``(positions accepted, their scores)``.

    ``feats``: per image the packed ``mask`` (``(N, bytes)`` uint8) and the geometry of
    :func:`gate`. One compiled pass: the geometric gate first (a few scalar operations; on
    handwriting it rejects ~95 % of the LSH candidates), the mask overlap on the survivors only.
    """
    _check_size(size)
    return _verify_pairs(
        _columns(feats),
        np.ascontiguousarray(feats["mask"], np.uint8),
        np.ascontiguousarray(a, np.int64),
        np.ascontiguousarray(b, np.int64),
        size,
        radius,
        threshold,
        _tolerances(gate_options),
    )


def verify_table(batch, *, size: int, radius: int, threshold: float, **gate_options):
    """``map_batches`` adapter: joined pairs (``a, b, mask_a, mask_b, sx_a, ...``) → ``a, b, score`` accepted only.

    ``gate_options``: keyword arguments of :func:`gate`.
    """
    import pyarrow as pa

    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    if batch.num_rows:
        n = batch.num_rows  # both sides as rows 0..n-1 and n..2n-1 of one feature table
        feats = {
            k: np.concatenate([batch.column(f"{k}_a").to_numpy(), batch.column(f"{k}_b").to_numpy()])
            for k in GEOMETRY
        }
        feats["mask"] = np.concatenate(
            [packed_masks(batch.column("mask_a")), packed_masks(batch.column("mask_b"))]
        )
        keep, score = verify_pairs(
            np.arange(n),
            np.arange(n, 2 * n),
            feats,
            size=size,
            radius=radius,
            threshold=threshold,
            **gate_options,
        )
    else:
        keep, score = np.empty(0, np.int64), np.empty(0)
    return pa.table(
        {
            "a": pa.array(a[keep], pa.int64()),
            "b": pa.array(b[keep], pa.int64()),
            "score": pa.array(score.astype(np.float32)),
        }
    )
