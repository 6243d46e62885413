"""Last check of a near pair at native resolution: is B one promised transform T of A (or A of B)?

In: two grey images ``(H, W)`` uint8 of any size. Out: the smallest residual (0 = B is exactly T(A))
over T in the family the stage promises (identity/JPEG, shift, rotation about the centre, ±1 px
stroke, crop, resize) and the name of that T. The residual compares ink darkness (0 paper, 1 ink):
``sum |P - Q| / sum max(P, Q)``, so it does not depend on image size. A near copy is a deterministic
transform of the same pixels and leaves a small residual; two drawings by one hand do not.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from dcai import imaging
from dcai.dedup import normalise, verify

MAX_SIDE = 512  # larger pairs are compared box-reduced by one common factor (crop offsets then round)


def darkness(gray: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 → ``(H, W)`` float32: grey levels below the paper (the commonest level), >= 0.

    Not rescaled per image: a near copy keeps its ink's grey level (a resize blurs thin strokes
    lighter, which the comparison then reproduces), a second drawing in another ink does not.
    A light-on-dark image is inverted.
    """
    g = gray.astype(np.float32)
    step = max(1, max(gray.shape) // 64)
    bg = int(np.bincount(gray[::step, ::step].ravel(), minlength=256).argmax())
    if bg < 128:
        g, bg = 255 - g, 255 - bg
    return np.maximum(bg - g, 0.0)


NOISE = 0.2  # per-pixel dead zone, a share of the ink contrast: JPEG q=50 ringing stays under it


def residual(p: np.ndarray, q: np.ndarray, *, noise: float = NOISE) -> float:
    """``sum max(|p - q| - noise, 0) / sum max(p, q)`` for darkness scaled to ink 1: 0 equal, ~1 disjoint ink."""
    den = float(np.maximum(p, q).sum())
    return float(np.maximum(np.abs(p - q) - noise, 0).sum()) / den if den > 0 else 1.0


def _placed(frame_shape: tuple[int, int], moved: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``moved`` pasted at offset ``(dy, dx)`` into a zero (paper) array of ``frame_shape``, overflow dropped."""
    h, w = frame_shape
    mh, mw = moved.shape
    out = np.zeros(frame_shape, np.float32)
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(h, dy + mh), min(w, dx + mw)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = moved[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out


def _lag_errors(frame: np.ndarray, moved: np.ndarray, lags: range) -> np.ndarray:
    """``(len(lags),)``: ``sum_i (frame[i] - moved[i - d])^2`` per lag ``d`` of a step-1 range, ``moved``
    zero outside its length. Every placement is one row of a sliding window over a zero-padded ``moved``.
    """
    lo, hi, n = lags.start, lags.stop - 1, len(frame)
    padded = np.zeros(n + hi - lo)  # padded[i + hi - d] = moved[i - d]
    j0, j1 = max(0, -hi), min(len(moved), len(padded) - hi)
    if j1 > j0:
        padded[j0 + hi : j1 + hi] = moved[j0:j1]
    placed = np.lib.stride_tricks.sliding_window_view(padded, n)[::-1]  # row k: lag lo + k
    return ((frame - placed) ** 2).sum(axis=1)


def candidate_offsets(
    frame: np.ndarray, moved: np.ndarray, dys: range, dxs: range, *, k: int = 2
) -> list[tuple[int, int]]:
    """The ``k`` offsets ``(dy, dx)`` at which ``moved``, pasted into ``frame``, best matches it by profile.

    A shift or a crop moves the ink's row and column sums by the same offset (exactly, unless ink is cut
    at the border), so the true offset is among the best few of each 1-D profile; the ``k`` best rows ×
    ``k`` best columns are ranked by their summed profile error. This replaced a full 2-D search (FFT
    cross-correlation, every offset): on the 27,627 pairs a 100 k-image `dcai synth` run sent to the
    pixel check, the same 4,202 passed (a /tmp experiment; tests/unit/test_dedup_pixels.py repeats it
    on planted shifts and crops).
    """
    ey = _lag_errors(frame.sum(axis=1), moved.sum(axis=1), dys)
    ex = _lag_errors(frame.sum(axis=0), moved.sum(axis=0), dxs)
    ranked = sorted((ey[i] + ex[j], dys[i], dxs[j]) for i in np.argsort(ey)[:k] for j in np.argsort(ex)[:k])
    return [(int(dy), int(dx)) for _, dy, dx in ranked[:k]]


def best_placement(
    frame: np.ndarray, moved: np.ndarray, dys: range, dxs: range
) -> tuple[float, tuple[int, int]]:
    """Explain ``frame`` as ``moved`` pasted at some offset ``(dy, dx)`` (paper around, overflow cut).

    The residual (see :func:`residual`) at the :func:`candidate_offsets`. Returns ``(residual, offset)``.
    """
    return min(
        (residual(_placed(frame.shape, moved, dy, dx), frame), (dy, dx))
        for dy, dx in candidate_offsets(frame, moved, dys, dxs)
    )


def best_shift(p: np.ndarray, q: np.ndarray, dys: range, dxs: range) -> float:
    """``q`` as ``p`` moved by ``d`` or ``p`` as ``q`` moved by ``-d`` (same canvas): the smaller residual.

    Each direction has its own profile offsets (:func:`candidate_offsets`): where the copy lost ink at the
    border, only the direction that pastes the full image into the cut one's frame sees matching profiles.
    """
    back_y, back_x = range(-dys.stop + 1, -dys.start + 1), range(-dxs.stop + 1, -dxs.start + 1)
    return min(best_placement(q, p, dys, dxs)[0], best_placement(p, q, back_y, back_x)[0])


def _turner(p: np.ndarray, center: tuple[float, float] | None = None):
    """``theta -> p`` turned by ``theta`` degrees about ``center`` (x, y; default the middle), bilinear, paper fill."""
    img = Image.fromarray(p, mode="F")
    return lambda t: np.asarray(
        img.rotate(t, resample=Image.Resampling.BILINEAR, fillcolor=0.0, center=center)
    )


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


@functools.lru_cache(maxsize=512)
def _rings(h: int, w: int) -> np.ndarray:
    """``(h * w,)`` int32: each pixel's whole-pixel distance from the canvas centre (canvas sizes recur)."""
    y, x = np.indices((h, w))
    return np.hypot(x + 0.5 - w / 2, y + 0.5 - h / 2).astype(np.int32).ravel()


def radial_gap(p: np.ndarray, q: np.ndarray) -> float:
    """Earth mover's distance, in pixels, between the ink's distributions of distance from the canvas centre.

    A turn about the centre keeps every ink pixel's distance from it: a cheap test before the search.
    """
    ring = _rings(*p.shape)
    fp, fq = np.bincount(ring, p.ravel()), np.bincount(ring, q.ravel())
    if fp.sum() <= 0 or fq.sum() <= 0:
        return np.inf
    return float(np.abs(np.cumsum(fp / fp.sum() - fq / fq.sum())).sum())


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
    p, q = p[ys, xs], q[ys, xs]
    turn_p, turn_q = _turner(p, center), _turner(q, center)
    best = min((residual(turn_p(t), q), float(t)) for t in np.arange(-max_turn, max_turn + 1e-9, 1.0))
    if best[0] > give_up:
        return best
    for step in (0.25, 0.06, 0.015):
        t0 = best[1]
        best = min([best] + [(residual(turn_p(t0 + k * step), q), t0 + k * step) for k in (-2, -1, 1, 2)])
    back = min((residual(turn_q(-t), p), t) for t in (best[1] - 0.015, best[1], best[1] + 0.015))
    return min(best, back)


def stroke_residual(thin: np.ndarray, thick: np.ndarray) -> float:
    """Explain ``thick`` as ``thin`` redrawn with 1 px wider strokes: ``thin <= thick <= dilate3x3(thin)``.

    The residual counts the ink that breaks either bound, over the union of ink.
    """
    den = float(np.maximum(thin, thick).sum())
    if den <= 0:
        return 1.0
    over = (
        np.maximum(thin - thick - NOISE, 0).sum()
        + np.maximum(thick - verify.dilate(thin, 1) - NOISE, 0).sum()
    )
    return float(over) / den


RESAMPLE = (Image.Resampling.BILINEAR, Image.Resampling.BOX)


def _resize(p: np.ndarray, shape: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(p, mode="F").resize((shape[1], shape[0]), resample))


# Acceptance, as a residual (see `residual`) per kind of explanation. Measured on `dcai synth` n=6000 seed 0
# (bench/dedup.py; seed 1 held out) over every source → near-copy candidate pair and every false pair
# that passes the cheap gates at mask overlap >= 0.5 (1,075 pairs), and on 50 sources re-made with
# other resamplers (/tmp experiments, repeated in tests/unit/test_dedup_pixels.py):
# - transforms reproduced here (identity/JPEG, shift, crop, rotation, resize): true pairs <= 0.001;
#   JPEG q=30 <= 0.009; JPEG q=50 after a crop, shift, turn or resize <= 0.005; a bicubic or Lanczos
#   resize or turn instead of bilinear <= 0.009; an area (box) downscale 0 (compared both ways). False
#   pairs >= 0.084 (two writings of one short bar by one writer, registered by a shift), most > 0.17.
#   0.05 sits between. Not covered: a nearest-neighbour turn (up to 0.14).
TOL = 0.05
# - a ±1 px stroke can only be bounded (a redrawn 1 px line is not inside its 2 px redraw: rasteriser
#   rounding), so true pairs score higher: <= 0.08 (seed 0; 0.071 seed 1), while false pairs explained
#   as a stroke change start at 0.118 (seed 0). 0.1 sits between; a morphological thickening scores 0.
#   Seed 1 has one false pair at 0.033: two drawings of `vi` by one writer on a clamped 48 px canvas
#   whose strokes coincide but for their width; no pixel test can call that one distinct.
STROKE_TOL = 0.1
# A turn is searched only where the ink's distance from the centre is kept (see `radial_gap`, pixels):
# planted rotations <= 0.24 px on both seeds, a bicubic or nearest-neighbour turn <= 0.3 px, a turn then
# JPEG q=50 <= 0.43 px, while ~78 % of the false same-canvas pairs exceed 0.75 px and so skip the search
# (its ~30 resamplings were 85 % of the check's time).
RADIAL_GAP = 0.75


def explain(
    a: np.ndarray,
    b: np.ndarray,
    *,
    tol: float = TOL,
    stroke_tol: float = STROKE_TOL,
    max_shift: float = 0.11,
    max_turn: float = 5.5,
    max_crop: float = 0.11,
    aspect_tol: float = 0.05,
    max_radial_gap: float = RADIAL_GAP,
    stop: bool = True,
) -> tuple[float, str]:
    """``(ratio, transform)``: the best explanation of ``b`` as T(a) or ``a`` as T(b), grey ``(H, W)`` uint8.

    ``ratio`` is the residual over its tolerance (``stroke_tol`` for ``"stroke"``, else ``tol``): the
    pair is a near copy when it is <= 1. Same canvas: identity (JPEG noise), shift (``max_shift`` of each
    side, paper fill), ±1 px stroke, rotation about the centre (``max_turn`` degrees, bilinear, paper
    fill; searched only when :func:`radial_gap` is at most ``max_radial_gap``). Different canvases:
    crop (the smaller is a sub-array of the larger, at most ``max_crop`` of each side cut in all) and
    resize (both sides scaled alike within ``aspect_tol``; compared at both sizes). Pairs larger than
    ``MAX_SIDE`` are box-reduced by one factor first. With ``stop``, returns at the first explanation
    that passes (cheapest first); ~0.5 ms a 48-128 px `dcai synth` pair that fails all.
    ``(inf, "none")`` when no transform fits the two shapes.
    """
    factor = -(-max(*a.shape, *b.shape) // MAX_SIDE)
    if factor > 1:
        a = np.asarray(Image.fromarray(a).reduce(factor))
        b = np.asarray(Image.fromarray(b).reduce(factor))
    p, q = darkness(a), darkness(b)
    ink = max(float(p.max()), float(q.max()), normalise.MIN_CONTRAST)  # one scale for both: ink 1
    p, q = p / ink, q / ink
    best = (np.inf, "none")

    def done(r: float, name: str) -> bool:
        nonlocal best
        best = min(best, (r / (stroke_tol if name == "stroke" else tol), name))
        return stop and best[0] <= 1.0

    if p.shape == q.shape:
        h, w = p.shape
        if done(residual(p, q), "identity"):
            return best
        my, mx = int(max_shift * h + 0.5), int(max_shift * w + 0.5)
        dys, dxs = range(-my, my + 1), range(-mx, mx + 1)
        if done(best_shift(p, q, dys, dxs), "shift"):
            return best
        thin, thick = (p, q) if p.sum() <= q.sum() else (q, p)
        if done(stroke_residual(thin, thick), "stroke"):
            return best
        if radial_gap(p, q) <= max_radial_gap:
            done(best_rotation(p, q, max_turn=max_turn, give_up=2 * tol)[0], "rotate")
        return best
    big, small = (p, q) if p.size >= q.size else (q, p)
    (hb, wb), (hs, ws) = big.shape, small.shape
    if hs <= hb and ws <= wb and hb - hs <= max_crop * hb + 1 and wb - ws <= max_crop * wb + 1:
        # small = big[oy : oy + hs, ox : ox + ws]: big pasted at (-oy, -ox) into small's frame
        if done(best_placement(small, big, range(-(hb - hs), 1), range(-(wb - ws), 1))[0], "crop"):
            return best
    if abs(np.log(wb / ws) - np.log(hb / hs)) <= aspect_tol + 1.0 / min(hs, ws):
        # down: bilinear (PIL's, antialiased) and area averaging; up: bilinear
        down = min(residual(_resize(big, small.shape, k), small) for k in RESAMPLE)
        done(min(down, residual(_resize(small, big.shape, RESAMPLE[0]), big)), "resize")
    return best


def decode_gray(data: bytes) -> np.ndarray:
    """Encoded image → grey ``(H, W)`` uint8 at native resolution (``explain`` reduces large pairs)."""
    gray, _, _ = normalise.decode(data, max_side=1 << 30)
    return gray


def load_gray(uri: str) -> np.ndarray:
    """Decode one file to grey ``(H, W)`` uint8 at native resolution, or raise naming the file."""
    try:
        data = imaging.read_bytes(uri)
        return decode_gray(data)
    except Exception as e:  # noqa: BLE001 - any failure here is a file the pair check cannot read
        raise imaging.BadImage(
            f"dedup: cannot re-read {uri} for the pixel check of a near pair ({type(e).__name__}: {e}); "
            "the file moved or changed since it was sketched"
        ) from e


def inline_store(idx: np.ndarray, data) -> dict[str, np.ndarray]:
    """Encoded files kept in the sketches → what :func:`check_table` reads: ``idx`` (M,) sorted int64,
    ``offsets`` (M + 1,) int64 and ``blob`` uint8, file ``i`` at ``blob[offsets[i]:offsets[i + 1]]``.

    ``data``: an Arrow binary column beside ``idx``; null rows (files too large to keep) are left out.
    Flat numpy arrays, so one object-store copy is read by every worker without a copy of its own.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    data = data.combine_chunks() if hasattr(data, "combine_chunks") else data
    has = data.is_valid().to_numpy(zero_copy_only=False)
    idx, data = np.asarray(idx)[has], data.filter(pa.array(has))
    order = np.argsort(idx, kind="stable")
    data = pc.take(data.cast(pa.large_binary()), pa.array(order))
    offsets = np.frombuffer(data.buffers()[1], np.int64)[data.offset : data.offset + len(data) + 1]
    blob = np.frombuffer(data.buffers()[2], np.uint8) if len(data) else np.empty(0, np.uint8)
    return {
        "idx": idx[order].astype(np.int64),
        "offsets": offsets - offsets[0],
        "blob": blob[offsets[0] : offsets[-1]].copy(),
    }


def check_table(batch, *, tol: float = TOL, stroke_tol: float = STROKE_TOL, store: dict | None = None):
    """``map_batches`` adapter: pairs ``a, b, uri_a, uri_b`` → ``a, b, ratio`` (float32), ``transform``.

    An image in ``store`` (see :func:`inline_store`, keyed by ``a`` / ``b``) is decoded from there, any
    other re-read from its URI. Each image is decoded once a batch; an unreadable one raises
    :class:`dcai.imaging.BadImage` naming its file.
    """
    import pyarrow as pa

    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    grays: dict[int, np.ndarray] = {}

    def stored(i: int) -> bytes | None:
        if store is None or not len(store["idx"]):
            return None
        k = int(np.searchsorted(store["idx"], i))
        if k == len(store["idx"]) or store["idx"][k] != i:
            return None
        return store["blob"][store["offsets"][k] : store["offsets"][k + 1]].tobytes()

    def gray(i: int, uri: str) -> np.ndarray:
        if i not in grays:
            data = stored(i)
            if data is None:
                grays[i] = load_gray(uri)
            else:
                try:
                    grays[i] = decode_gray(data)
                except Exception as e:  # noqa: BLE001 - the sketch stage decoded these very bytes
                    raise imaging.BadImage(
                        f"dedup: the copy of {uri} kept in the sketches does not decode ({type(e).__name__}: {e})"
                    ) from e
        return grays[i]

    found = [
        explain(gray(i, ua), gray(j, ub), tol=tol, stroke_tol=stroke_tol)
        for i, j, ua, ub in zip(
            a.tolist(), b.tolist(), batch.column("uri_a").to_pylist(), batch.column("uri_b").to_pylist()
        )
    ]
    return pa.table(
        {
            "a": pa.array(a, pa.int64()),
            "b": pa.array(b, pa.int64()),
            "ratio": pa.array([r for r, _ in found], pa.float32()),
            "transform": pa.array([t for _, t in found], pa.string()),
        }
    )
