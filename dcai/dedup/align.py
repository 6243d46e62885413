"""Register one darkness image ``(H, W)`` float32 on another: how well a shift, crop, turn or ±1 px stroke
explains it, as a residual (0 = exact, ~1 = disjoint ink). Compiled loops (numba); the pixel check
(:mod:`dcai.dedup.pixels`) tries them cheapest first.
"""

from __future__ import annotations

import numpy as np

from dcai.dedup._jit import jit as _jit
from dcai.dedup._jit import jit_sums as _jit_sums

NOISE = 0.2  # per-pixel dead zone, a share of the ink contrast: JPEG q=50 ringing stays under it


def residual(p: np.ndarray, q: np.ndarray, *, noise: float = NOISE) -> float:
    """``sum max(|p - q| - noise, 0) / sum max(p, q)`` for darkness scaled to ink 1: 0 equal, ~1 disjoint ink."""
    return _residual_at(np.ascontiguousarray(p, np.float32), np.ascontiguousarray(q, np.float32), 0, 0, noise)


@_jit_sums
def _residual_at(frame, moved, dy, dx, noise):
    """:func:`residual` of ``frame`` against ``moved`` pasted into a paper frame of its shape at offset
    ``(dy, dx)`` (overflow cut), without building that frame: per row, the columns ``moved`` covers and
    the paper left and right of them."""
    h, w = frame.shape
    mh, mw = moved.shape
    num, den = 0.0, 0.0
    for y in range(h):
        my = y - dy
        row = frame[y]
        lo, hi = 0, 0
        if 0 <= my < mh:
            lo, hi = min(max(dx, 0), w), max(min(w, dx + mw), 0)
        hi = max(hi, lo)
        for x in range(lo):
            num += max(row[x] - noise, 0.0)
            den += max(row[x], 0.0)
        if hi > lo:
            f, m = row[lo:hi], moved[my, lo - dx : hi - dx]
            for x in range(hi - lo):
                num += max(abs(f[x] - m[x]) - noise, 0.0)
                den += max(f[x], m[x])
        for x in range(hi, w):
            num += max(row[x] - noise, 0.0)
            den += max(row[x], 0.0)
    return num / den if den > 0 else 1.0


def _lag_errors(frame: np.ndarray, moved: np.ndarray, lags: range) -> np.ndarray:
    """``(len(lags),)``: ``sum_i (frame[i] - moved[i - d])^2`` per lag ``d`` of a step-1 range, ``moved``
    zero outside its length (compiled: :func:`_lag_errors_jit`).
    """
    return _lag_errors_jit(
        np.asarray(frame, np.float64), np.asarray(moved, np.float64), lags.start, lags.stop
    )


@_jit_sums
def _lag_errors_jit(frame, moved, lo, stop):
    out = np.empty(stop - lo)
    for k in range(stop - lo):
        d = lo + k
        e = 0.0
        for i in range(len(frame)):
            j = i - d
            v = frame[i] - (moved[j] if 0 <= j < len(moved) else 0.0)
            e += v * v
        out[k] = e
    return out


def candidate_offsets(
    frame: np.ndarray, moved: np.ndarray, dys: range, dxs: range, *, k: int = 2
) -> list[tuple[int, int]]:
    """The ``k`` offsets ``(dy, dx)`` at which ``moved``, pasted into ``frame``, best matches it by profile.

    A shift or a crop moves the ink's row and column sums by the same offset (exactly, unless ink is cut
    at the border), so the true offset is among the best few of each 1-D profile; the ``k`` best rows ×
    ``k`` best columns are ranked by their summed profile error: the same verdicts as a full 2-D search
    (dcai/dedup/README.md, "Pixel check tolerances"; tests/unit/test_dedup_pixels.py, planted shifts and crops).
    """
    frame, moved = np.ascontiguousarray(frame, np.float32), np.ascontiguousarray(moved, np.float32)
    found = _offsets(frame, moved, dys.start, dys.stop, dxs.start, dxs.stop, k)
    return [(int(dy), int(dx)) for dy, dx in found]


@_jit_sums
def _profiles(x):
    """``(row sums (H,), column sums (W,))`` float64 in one pass."""
    h, w = x.shape
    rows, cols = np.zeros(h), np.zeros(w)
    for y in range(h):
        acc = 0.0
        for c in range(w):
            acc += x[y, c]
            cols[c] += x[y, c]
        rows[y] = acc
    return rows, cols


@_jit
def _offsets(frame, moved, ylo, ystop, xlo, xstop, k):
    """:func:`candidate_offsets`: ``(k, 2)`` int64 ``(dy, dx)``, the best first."""
    fr, fc = _profiles(frame)
    mr, mc = _profiles(moved)
    ey, ex = _lag_errors_jit(fr, mr, ylo, ystop), _lag_errors_jit(fc, mc, xlo, xstop)
    iy, ix = np.argsort(ey)[:k], np.argsort(ex)[:k]
    score = np.empty(len(iy) * len(ix))
    pairs = np.empty((len(score), 2), np.int64)
    n = 0
    for i in iy:
        for j in ix:
            score[n], pairs[n, 0], pairs[n, 1] = ey[i] + ex[j], ylo + i, xlo + j
            n += 1
    return pairs[np.argsort(score, kind="mergesort")[:k]]


def best_placement(
    frame: np.ndarray, moved: np.ndarray, dys: range, dxs: range
) -> tuple[float, tuple[int, int]]:
    """Explain ``frame`` as ``moved`` pasted at some offset ``(dy, dx)`` (paper around, overflow cut).

    The residual (see :func:`residual`) at the :func:`candidate_offsets`. Returns ``(residual, offset)``.
    """
    frame, moved = np.ascontiguousarray(frame, np.float32), np.ascontiguousarray(moved, np.float32)
    return min(
        (_residual_at(frame, moved, dy, dx, NOISE), (dy, dx))
        for dy, dx in candidate_offsets(frame, moved, dys, dxs)
    )


def best_shift(p: np.ndarray, q: np.ndarray, dys: range, dxs: range) -> float:
    """``q`` as ``p`` moved by ``d`` or ``p`` as ``q`` moved by ``-d`` (same canvas): the smaller residual.

    Each direction has its own profile offsets (:func:`candidate_offsets`): where the copy lost ink at the
    border, only the direction that pastes the full image into the cut one's frame sees matching profiles.
    """
    back_y, back_x = range(-dys.stop + 1, -dys.start + 1), range(-dxs.stop + 1, -dxs.start + 1)
    return min(best_placement(q, p, dys, dxs)[0], best_placement(p, q, back_y, back_x)[0])


def _turn_matrix(t: float, center: tuple[float, float]) -> np.ndarray:
    """PIL's inverse affine map for ``Image.rotate(t, center=center)``: output pixel → source point."""
    angle = -np.radians(t % 360.0)
    c, s = round(float(np.cos(angle)), 15), round(float(np.sin(angle)), 15)
    cx, cy = center
    return np.array([c, s, -c * cx - s * cy + cx, -s, c, s * cx - c * cy + cy])


@_jit_sums
def _turned_residual(p, q, m, noise):
    """:func:`residual` of ``p`` turned by the map ``m`` (see :func:`_turn_matrix`) against ``q``, without
    building the turned image: PIL's bilinear affine sampling (``Image.rotate(..., BILINEAR, fillcolor=0)``,
    the same pixels to float rounding), paper outside.
    """
    h, w = p.shape
    num, den = 0.0, 0.0
    for y in range(h):
        row = q[y]
        for x in range(w):
            xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2]
            yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5]
            v = np.float32(0.0)
            if 0.0 <= xin < w and 0.0 <= yin < h:
                xin -= 0.5
                yin -= 0.5
                xi, yi = int(np.floor(xin)), int(np.floor(yin))
                dx, dy = xin - xi, yin - yi
                x0, x1, r0 = min(max(xi, 0), w - 1), min(max(xi + 1, 0), w - 1), min(max(yi, 0), h - 1)
                v1 = p[r0, x0] + (p[r0, x1] - p[r0, x0]) * dx
                v2 = p[yi + 1, x0] + (p[yi + 1, x1] - p[yi + 1, x0]) * dx if yi + 1 < h else v1
                v = np.float32(v1 + (v2 - v1) * dy)
            num += max(abs(v - row[x]) - noise, 0.0)
            den += max(v, row[x])
    return num / den if den > 0 else 1.0


def _turn_window(p: np.ndarray, q: np.ndarray, max_turn: float) -> tuple[slice, slice]:
    """The part of the canvas outside which ``p``, ``q`` and both turned by up to ``max_turn``° are paper.

    The ink's bounding box grown by the farthest move of a turn about the canvas centre (its corner's
    radius × the chord of ``max_turn``) plus 2 px of bilinear spread. Turning only this window (about the
    canvas centre, in its coordinates) leaves every residual the same and costs its area, not the canvas's.
    """
    h, w = p.shape
    ink = (p > 0) | (q > 0)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        return slice(0, h), slice(0, w)
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    reach = max(abs(y - h / 2) for y in (y0, y1)) ** 2 + max(abs(x - w / 2) for x in (x0, x1)) ** 2
    m = int(np.ceil(np.sqrt(reach) * 2 * np.sin(np.radians(max_turn) / 2))) + 2
    return slice(max(0, y0 - m), min(h, y1 + m)), slice(max(0, x0 - m), min(w, x1 + m))


def radial_gap(p: np.ndarray, q: np.ndarray) -> float:
    """Earth mover's distance, in pixels, between the ink's distributions of distance from the canvas centre.

    A turn about the centre keeps every ink pixel's distance from it: a cheap test before the search.
    """
    return _radial_gap(np.ascontiguousarray(p, np.float32), np.ascontiguousarray(q, np.float32))


@_jit
def _radial_gap(p, q):
    """Ink per whole-pixel distance from the canvas centre, both images; the gap between the distributions."""
    h, w = p.shape
    n = int(np.sqrt((w / 2) ** 2 + (h / 2) ** 2)) + 2
    fp, fq = np.zeros(n), np.zeros(n)
    for y in range(h):
        dy2 = (y + 0.5 - h / 2) ** 2
        for x in range(w):
            ring = int(np.sqrt((x + 0.5 - w / 2) ** 2 + dy2))
            fp[ring] += p[y, x]
            fq[ring] += q[y, x]
    sp, sq = fp.sum(), fq.sum()
    if sp <= 0 or sq <= 0:
        return np.inf
    gap, run = 0.0, 0.0
    for r in range(n):
        run += fp[r] / sp - fq[r] / sq
        gap += abs(run)
    return gap


def best_rotation(
    p: np.ndarray, q: np.ndarray, *, max_turn: float, give_up: float = np.inf
) -> tuple[float, float]:
    """Explain ``q`` as ``p`` turned about the canvas centre by ``theta`` in ``[-max_turn, max_turn]``
    (or ``p`` as ``q`` turned back). Returns ``(residual, theta)``.

    Coarse to fine: 1° steps one way, then ±2 steps of 0.25°, 0.06°, 0.015° about the best (an error
    of 0.0075° moves a point 128 px from the centre by 0.02 px), then the other way at that angle.
    Stops after the coarse steps when their best residual exceeds ``give_up``: a planted turn is
    within 0.007 there already (half a degree off, under the noise dead zone), a false pair above 0.1
    in 99 % of cases (64 px speed glyphs).
    """
    ys, xs = _turn_window(p, q, max_turn)
    center = (p.shape[1] / 2 - xs.start, p.shape[0] / 2 - ys.start)
    p, q = np.ascontiguousarray(p[ys, xs], np.float32), np.ascontiguousarray(q[ys, xs], np.float32)

    def turned(a: np.ndarray, b: np.ndarray, t: float) -> float:  # residual(a turned by t, b)
        return _turned_residual(a, b, _turn_matrix(t, center), NOISE)

    best = min((turned(p, q, t), float(t)) for t in np.arange(-max_turn, max_turn + 1e-9, 1.0))
    if best[0] > give_up:
        return best
    for step in (0.25, 0.06, 0.015):
        t0 = best[1]
        best = min([best] + [(turned(p, q, t0 + k * step), t0 + k * step) for k in (-2, -1, 1, 2)])
    back = min((turned(q, p, -t), t) for t in (best[1] - 0.015, best[1], best[1] + 0.015))
    return min(best, back)


def stroke_residual(thin: np.ndarray, thick: np.ndarray) -> float:
    """Explain ``thick`` as ``thin`` redrawn with 1 px wider strokes: ``thin <= thick <= dilate3x3(thin)``.

    The residual counts the ink that breaks either bound, over the union of ink.
    """
    return _stroke_residual(
        np.ascontiguousarray(thin, np.float32), np.ascontiguousarray(thick, np.float32), NOISE
    )


@_jit_sums
def _stroke_residual(thin, thick, noise):
    h, w = thin.shape
    wide = np.empty((h, w), np.float32)  # thin's maximum over each 1x3 row neighbourhood
    for y in range(h):
        r, o = thin[y], wide[y]
        for x in range(w):
            o[x] = max(max(r[max(x - 1, 0)], r[x]), r[min(x + 1, w - 1)])
    over, den = 0.0, 0.0
    for y in range(h):
        t, k = thin[y], thick[y]
        up, mid, down = wide[max(y - 1, 0)], wide[y], wide[min(y + 1, h - 1)]
        for x in range(w):
            near = max(max(up[x], mid[x]), down[x])  # the 3x3 maximum
            den += max(t[x], k[x])
            over += max(t[x] - k[x] - noise, 0.0) + max(k[x] - near - noise, 0.0)
    return over / den if den > 0 else 1.0
