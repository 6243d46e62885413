"""Last check of a near pair at native resolution: is B one promised transform T of A (or A of B)?

In: two grey images ``(H, W)`` uint8 of any size. Out: the smallest residual (0 = B is exactly T(A))
over T in the family the stage promises (identity/JPEG, shift, rotation about the centre, ±1 px
stroke, crop, resize) and the name of that T. The residual compares ink darkness (0 paper, 1 ink):
``sum |P - Q| / sum max(P, Q)``, so it does not depend on image size. A near copy is a deterministic
transform of the same pixels and leaves a small residual; two drawings by one hand do not.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dcai import imaging
from dcai.dedup import normalise

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


def _window_sums(x: np.ndarray) -> np.ndarray:
    """2-D prefix sums with a zero row and column in front: ``s[y1, x1] - ...`` sums any window."""
    s = np.zeros((x.shape[0] + 1, x.shape[1] + 1), np.float64)
    s[1:, 1:] = x.cumsum(0).cumsum(1)
    return s


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


def best_placement(
    frame: np.ndarray, moved: np.ndarray, dys: range, dxs: range
) -> tuple[float, tuple[int, int]]:
    """Explain ``frame`` as ``moved`` pasted at some offset ``(dy, dx)`` (paper around, overflow cut).

    The squared error of every offset comes from one FFT cross-correlation and window sums; the
    residual (see :func:`residual`) is then taken at the best three offsets. Returns ``(residual, offset)``.
    """
    h, w = frame.shape
    mh, mw = moved.shape
    fh, fw = h + mh, w + mw
    f64, m64 = frame.astype(np.float64), moved.astype(np.float64)
    corr = np.fft.irfft2(np.fft.rfft2(f64, (fh, fw)) * np.conj(np.fft.rfft2(m64, (fh, fw))), (fh, fw))
    dy = np.asarray(dys)[:, None]
    dx = np.asarray(dxs)[None, :]
    c = corr[dy % fh, dx % fw]
    s = _window_sums(m64 * m64)
    # the part of `moved` that lands inside the frame: rows [max(0,-dy), min(mh, h-dy)), same for x
    r0, r1 = np.clip(-dy, 0, mh), np.clip(h - dy, 0, mh)
    c0, c1 = np.clip(-dx, 0, mw), np.clip(w - dx, 0, mw)
    inside = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
    err = float((f64 * f64).sum()) + inside - 2 * c
    order = np.argsort(err, axis=None)[:3]
    best = (np.inf, (0, 0))
    for k in order:
        i, j = np.unravel_index(k, err.shape)
        off = (int(dys[i]), int(dxs[j]))
        r = residual(_placed(frame.shape, moved, *off), frame)
        best = min(best, (r, off))
    return best


def _rotate(p: np.ndarray, degrees: float) -> np.ndarray:
    img = Image.fromarray(p, mode="F").rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    return np.asarray(img)


def best_rotation(p: np.ndarray, q: np.ndarray, *, max_turn: float) -> tuple[float, float]:
    """Explain ``q`` as ``p`` turned about the canvas centre by ``theta`` in ``[-max_turn, max_turn]``.

    Coarse to fine (0.5°, 0.1°, 0.025°): a quarter-step error moves a point 64 px from the centre by
    under 0.3 px. Returns ``(residual, theta)``.
    """
    best = min((residual(_rotate(p, t), q), t) for t in np.arange(-max_turn, max_turn + 1e-9, 0.5))
    for step in (0.1, 0.025):
        t0 = best[1]
        best = min([best] + [(residual(_rotate(p, t0 + k * step), q), t0 + k * step) for k in (-2, -1, 1, 2)])
    return best


def _dilate3(p: np.ndarray) -> np.ndarray:
    """Grey dilation by a 3x3 square (the maximum of each pixel's neighbourhood)."""
    padded = np.pad(p, 1)
    h, w = p.shape
    out = p.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(out, padded[dy : dy + h, dx : dx + w], out=out)
    return out


def stroke_residual(thin: np.ndarray, thick: np.ndarray) -> float:
    """Explain ``thick`` as ``thin`` redrawn with 1 px wider strokes: ``thin <= thick <= dilate3x3(thin)``.

    The residual counts the ink that breaks either bound, over the union of ink.
    """
    den = float(np.maximum(thin, thick).sum())
    if den <= 0:
        return 1.0
    over = np.maximum(thin - thick - NOISE, 0).sum() + np.maximum(thick - _dilate3(thin) - NOISE, 0).sum()
    return float(over) / den


RESAMPLE = (Image.Resampling.BILINEAR, Image.Resampling.BOX)


def _resize(p: np.ndarray, shape: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(p, mode="F").resize((shape[1], shape[0]), resample))


# Acceptance, as a residual (see `residual`) per kind of explanation. Measured on `dcai synth` n=6000 seed 0
# (bench/dedup.py; seed 1 held out), over every source → near-copy candidate pair and every false pair
# that passes the cheap gates at mask overlap >= 0.5:
# - transforms reproduced here (identity/JPEG, shift, crop, rotation, resize): true pairs <= 0.001; a
#   JPEG q=30 re-encode on top of any of them <= 0.015, a bicubic or Lanczos resize or rotation instead
#   of bilinear <= 0.01, an area (box) downscale ~0 (compared both ways). False pairs >= 0.084 (two
#   writings of one short bar by one writer, registered by a shift), most > 0.17. 0.05 sits between.
TOL = 0.05
# - a ±1 px stroke can only be bounded (a redrawn 1 px line is not inside its 2 px redraw: rasteriser
#   rounding), so its residual is larger for true pairs: <= 0.08 (seed 0), while false pairs explained
#   as a stroke change start at 0.118. 0.1 sits between; a morphological thickening scores 0.
STROKE_TOL = 0.1


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
    stop: bool = True,
) -> tuple[float, str]:
    """``(ratio, transform)``: the best explanation of ``b`` as T(a) or ``a`` as T(b), grey ``(H, W)`` uint8.

    ``ratio`` is the residual over its tolerance (``stroke_tol`` for ``"stroke"``, else ``tol``): the
    pair is a near copy when it is <= 1. Same canvas: identity (JPEG noise), shift (``max_shift`` of each
    side, paper fill), ±1 px stroke, rotation about the centre (``max_turn`` degrees, bilinear, paper
    fill). Different canvases: crop (the smaller is a sub-array of the larger, at most ``max_crop`` of
    each side cut in all) and resize (both sides scaled alike within ``aspect_tol``; compared at both
    sizes). With ``stop``, returns at the first explanation that passes (cheapest first).
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
        if done(min(best_placement(q, p, dys, dxs)[0], best_placement(p, q, dys, dxs)[0]), "shift"):
            return best
        thin, thick = (p, q) if p.sum() <= q.sum() else (q, p)
        if done(stroke_residual(thin, thick), "stroke"):
            return best
        turn = min(best_rotation(p, q, max_turn=max_turn)[0], best_rotation(q, p, max_turn=max_turn)[0])
        done(turn, "rotate")
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


def check_table(batch, *, tol: float = TOL, stroke_tol: float = STROKE_TOL):
    """``map_batches`` adapter: pairs ``a, b, uri_a, uri_b`` → ``a, b, ratio`` (float32), ``transform``.

    Each file is read once a batch; an unreadable one raises :class:`dcai.imaging.BadImage` naming it.
    """
    import pyarrow as pa

    a, b = batch.column("a").to_numpy(), batch.column("b").to_numpy()
    grays: dict[str, np.ndarray] = {}

    def gray(uri: str) -> np.ndarray:
        if uri not in grays:
            grays[uri] = load_gray(uri)
        return grays[uri]

    found = [
        explain(gray(ua), gray(ub), tol=tol, stroke_tol=stroke_tol)
        for ua, ub in zip(batch.column("uri_a").to_pylist(), batch.column("uri_b").to_pylist())
    ]
    return pa.table(
        {
            "a": pa.array(a, pa.int64()),
            "b": pa.array(b, pa.int64()),
            "ratio": pa.array([r for r, _ in found], pa.float32()),
            "transform": pa.array([t for _, t in found], pa.string()),
        }
    )
