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
from dcai.dedup._jit import jit as _jit
from dcai.dedup.align import best_placement, best_rotation, best_shift, radial_gap, residual, stroke_residual
from dcai.dedup.resample import resize

MAX_SIDE = 512  # larger pairs are compared box-reduced by one common factor (crop offsets then round)


def darkness(gray: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 → ``(H, W)`` float32: grey levels below the paper (the commonest level), >= 0.

    Not rescaled per image: a near copy keeps its ink's grey level (a resize blurs thin strokes
    lighter, which the comparison then reproduces), a second drawing in another ink does not.
    A light-on-dark image is inverted.
    """
    step = max(1, max(gray.shape) // 64)
    return _darkness(np.ascontiguousarray(gray, dtype=np.uint8), step)


@_jit
def _darkness(gray, step):
    hist = np.zeros(256, np.int64)
    for y in range(0, gray.shape[0], step):
        for x in range(0, gray.shape[1], step):
            hist[gray[y, x]] += 1
    bg = int(np.argmax(hist))  # the first of equal counts, as np.bincount(...).argmax()
    sign = 1 if bg >= 128 else -1  # light-on-dark: (255 - g) below (255 - bg) is g - bg
    out = np.empty(gray.shape, np.float32)
    for y in range(gray.shape[0]):
        for x in range(gray.shape[1]):
            out[y, x] = max((bg - np.int32(gray[y, x])) * sign, 0)
    return out


# Acceptance: the largest residual (see `residual`) each kind of explanation may leave. Set on `dcai synth`
# seed 0, held on seed 1; the measurements behind each: dcai/dedup/README.md, "Pixel check tolerances".
TOL = 0.05  # transforms reproduced here: true pairs <= 0.009 (JPEG q=30, other resamplers), false >= 0.084
STROKE_TOL = 0.1  # a ±1 px stroke can only be bounded: true pairs <= 0.08, false >= 0.118
RADIAL_GAP = 0.75  # px: no turn search past it (planted turns <= 0.43 px; ~78 % of false pairs are above)


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
        down = min(residual(resize(big, small.shape, box), small) for box in (False, True))
        done(min(down, residual(resize(small, big.shape, False), big)), "resize")
    return best


def decode_gray(data: bytes) -> np.ndarray:
    """Encoded image → grey ``(H, W)`` uint8 at native resolution (``explain`` reduces large pairs)."""
    gray, _, _ = normalise.decode(data, max_side=1 << 30, hashed=False)
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
    """Encoded files kept in the sketches → what :func:`explain_table` reads: ``idx`` (M,) sorted int64,
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


def explain_table(batch, *, tol: float = TOL, stroke_tol: float = STROKE_TOL, store: dict | None = None):
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


def line_up(out, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`explain_table`'s output rows, in any order, lined up with the input pairs ``(a, b)`` (``(M,)``
    each): ``(kept (M,) bool, ratio (M,), transform (M,))``."""
    n = int(max(a.max(), b.max())) + 1
    key_in, key_out = a * n + b, out.column("a").to_numpy() * n + out.column("b").to_numpy()
    order = np.argsort(key_out)
    pos = order[np.searchsorted(key_out[order], key_in)]
    ratio = out.column("ratio").to_numpy()[pos]
    how = np.asarray(out.column("transform").to_pylist(), object)[pos]
    return ratio <= 1.0, ratio, how
