"""Verify candidate pairs on the normalised ink masks: ``(M, S, S)`` bool pairs → ``(M,)`` similarity in [0, 1].

The similarity is the smaller of two tolerant containments: the share of A's ink within ``radius``
cells of B's ink, and of B's within ``radius`` of A's. One cell of tolerance absorbs the jitter left
by rotation, crop and stroke width; taking the smaller side means a glyph is not a duplicate of a
glyph that merely contains it. The pair must also be geometrically consistent with one of the promised
transforms (see :func:`consistent`): that, not the mask, is what separates look-alike glyphs.
"""

from __future__ import annotations

import numpy as np

from dcai.dedup.join import FEATURES


def dilate(x: np.ndarray, radius: int) -> np.ndarray:
    """``(..., H, W)`` grown by ``radius`` cells: the maximum over each square neighbourhood (bool masks:
    any ink near; grey darkness: the darkest near), no wrap-around."""
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(radius, radius), (radius, radius)])
    out = x.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            np.maximum(out, padded[..., dy : dy + h, dx : dx + w], out=out)
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


def _log_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log(x / y)`` per pair, infinite where either is zero (no ink: nothing is consistent with it)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = (x > 0) & (y > 0)
    return np.where(ok, np.log(np.where(ok, x, 1.0) / np.where(ok, y, 1.0)), np.inf)


def consistent(
    a: dict[str, np.ndarray],
    b: dict[str, np.ndarray],
    *,
    scale_tol: float = 0.1,
    crop_max: float = 0.12,
    crop_tol: float = 0.02,
    resize_tol: float = 0.05,
    aspect_tol: float = 0.03,
    place_tol: float = 0.015,
    turn_tol: float = 0.035,
    cut_tol: float = 0.1,
) -> np.ndarray:
    """``(M,)`` bool: could one image of each pair be the other after one of the promised transforms?

    ``a``, ``b``: per pair ``canvas_w``, ``canvas_h``, the ink's spread ``sx, sy`` and pixel count
    ``area`` (original pixels), its centroid ``cx, cy`` (canvas fractions) and ``edge`` (ink touches the
    border), see ``normalise.geometry``.
    Tolerances are logs (0.1 = 10 %) except ``place_tol`` (a canvas fraction). A pair passes as

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
    wa, ha = a["canvas_w"].astype(np.float64), a["canvas_h"].astype(np.float64)
    wb, hb = b["canvas_w"].astype(np.float64), b["canvas_h"].astype(np.float64)
    lw, lh = _log_ratio(wa, wb), _log_ratio(ha, hb)
    lx, ly, lar = _log_ratio(a["sx"], b["sx"]), _log_ratio(a["sy"], b["sy"]), _log_ratio(a["area"], b["area"])
    lr = _log_ratio(np.hypot(a["sx"], a["sy"]), np.hypot(b["sx"], b["sy"]))
    equal = (wa == wb) & (ha == hb)
    # same canvas: either the ink moved without resampling (JPEG, shift: spread and pixel count kept), or
    # it stayed in place (rotation about the canvas centre moves the centroid by ≤ 5° x its distance from
    # the centre, a stroke change not at all) and its overall spread changed by at most scale_tol.
    # Ink touching one image's border may have been cut off there (shift, crop): that image may hold up
    # to cut_tol less ink (never more), and both spreads may differ by cut_tol
    ea, eb = np.asarray(a["edge"]) > 0, np.asarray(b["edge"]) > 0
    lo, hi = np.where(ea, -cut_tol, -crop_tol), np.where(eb, cut_tol, crop_tol)  # allowed log(area a / b)
    spread_tol = np.where(ea | eb, cut_tol, crop_tol)
    pixels = (lar >= lo) & (lar <= hi) & (np.abs(lx) <= spread_tol) & (np.abs(ly) <= spread_tol)
    stayed = (np.abs(a["cx"] - b["cx"]) <= turn_tol) & (np.abs(a["cy"] - b["cy"]) <= turn_tol)
    same = equal & (pixels | (stayed & (np.abs(lr) <= scale_tol)))
    # crop: the larger canvas lost 0..crop_max per side; its centroid, in pixels, sits further right
    # (down) by what was cut on the left (top): between 0 and the width (height) lost, 1.5 px of slack
    a_big = wa * ha >= wb * hb
    sw, sh = np.where(a_big, lw, -lw), np.where(a_big, lh, -lh)
    inside = (sw >= 0) & (sh >= 0) & (sw <= crop_max) & (sh <= crop_max)
    dx = np.where(a_big, 1, -1) * (a["cx"] * wa - b["cx"] * wb)
    dy = np.where(a_big, 1, -1) * (a["cy"] * ha - b["cy"] * hb)
    moved = (dx >= -1.5) & (dx <= np.abs(wa - wb) + 1.5) & (dy >= -1.5) & (dy <= np.abs(ha - hb) + 1.5)
    crop = ~equal & inside & pixels & moved
    # resize: scale the smaller image's spread up by the canvas factor f; bilinear blur may move a thin
    # stroke's spread by about a pixel of the smaller image, hence the f * 1 px of slack
    f = np.exp(np.abs(0.5 * (lw + lh)))
    sxa, sxb, sya, syb = (np.asarray(x, np.float64) for x in (a["sx"], b["sx"], a["sy"], b["sy"]))
    big_x, small_x = np.where(a_big, sxa, sxb), np.where(a_big, sxb, sxa)
    big_y, small_y = np.where(a_big, sya, syb), np.where(a_big, syb, sya)
    spread = (np.abs(big_x - f * small_x) <= resize_tol * big_x + 0.5 * f) & (
        np.abs(big_y - f * small_y) <= resize_tol * big_y + 0.5 * f
    )
    resize = (
        ~equal
        & (np.abs(lw - lh) <= aspect_tol)
        & spread
        & (np.abs(a["cx"] - b["cx"]) <= place_tol)
        & (np.abs(a["cy"] - b["cy"]) <= place_tol)
    )
    has_ink = (np.asarray(a["area"]) > 0) & (np.asarray(b["area"]) > 0)
    return has_ink & (same | crop | resize)


def check(
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
    :func:`consistent`. The geometric gate runs first: it is a few scalar operations a pair and, on
    handwriting, rejects ~95 % of the LSH candidates, so the mask overlap (~10 µs a pair) is computed on
    the survivors only.
    """
    from dcai.dedup.normalise import unpack

    chunk = CHUNK
    side = lambda rows: {k: feats[k][rows] for k in GEOMETRY}  # noqa: E731
    gated = np.concatenate(
        [
            i + np.flatnonzero(consistent(side(a[i : i + chunk]), side(b[i : i + chunk]), **gate_options))
            for i in range(0, len(a), chunk)
        ]
        or [np.empty(0, np.int64)]
    )
    # the overlap unpacks masks to 1 byte a cell (and dilates them): bounded batches keep a reducer's
    # memory flat however many pairs its partition holds
    step = max(1, chunk // 16)
    scores = [
        similarity(unpack(feats["mask"][a[g]], size), unpack(feats["mask"][b[g]], size), radius=radius)
        for g in (gated[i : i + step] for i in range(0, len(gated), step))
    ]
    score = np.concatenate(scores) if scores else np.empty(0)
    hit = score >= threshold
    return gated[hit], score[hit]


CHUNK = 262_144  # pairs gated at once (~30 MB of gathered features); the overlap runs on CHUNK // 16
GEOMETRY = tuple(k for k in FEATURES if k != "mask")  # the per-image scalars consistent() reads


def verify_table(batch, *, size: int, radius: int, threshold: float, **gate_options):
    """``map_batches`` adapter: joined pairs (``a, b, mask_a, mask_b, sx_a, ...``) → ``a, b, score`` accepted only.

    ``gate_options``: keyword arguments of :func:`consistent`.
    """
    import pyarrow as pa

    from dcai.dedup.sketch import packed_masks

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
        keep, score = check(
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
