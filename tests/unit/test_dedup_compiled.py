"""The compiled sketch and verify kernels (numba) against the numpy code they replaced, kept here as the
reference: the same masks, the same float32 features, the same gate and overlap, bit for bit."""

import numpy as np
import pytest

from bench import planted
from dcai.dedup import normalise, verify
from dcai.dedup.config import DedupConfig
from dcai.synth.render import Dice, draw_numeral, writer_style

# ---- the numpy reference (dcai.dedup.normalise and verify before they were compiled) ----


def _ref_ink(gray):
    step = max(1, max(gray.shape) // 64)
    bg = int(np.bincount(gray[::step, ::step].ravel(), minlength=256).argmax())
    g = gray if bg >= 128 else 255 - gray
    bg = max(bg, 255 - bg)
    dark = int(g.min())
    if bg - dark < normalise.MIN_CONTRAST:
        return np.zeros(g.shape, dtype=bool)
    return g < bg - (bg - dark) // 3


def _ref_normalise(gray, size):
    ink = _ref_ink(gray)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    out = np.zeros((size, size), dtype=bool)
    if rows.size == 0:
        return out, 0.0, 0.0
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    extent = float(np.hypot(h / ink.shape[0], w / ink.shape[1]) / np.sqrt(2))
    perimeter = int((crop[1:] != crop[:-1]).sum() + (crop[:, 1:] != crop[:, :-1]).sum()) + 2 * (h + w)
    stroke = float(2.0 * crop.sum() / perimeter / max(h, w))
    scale = size / max(h, w)
    oh, ow = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    starts = lambda n, cells: (np.arange(cells) * n) // cells  # noqa: E731
    pooled = np.logical_or.reduceat(
        np.logical_or.reduceat(crop, starts(h, oh), axis=0), starts(w, ow), axis=1
    )
    r0, c0 = (size - oh) // 2, (size - ow) // 2
    out[r0 : r0 + oh, c0 : c0 + ow] = pooled
    return out, extent, stroke


def _ref_geometry(gray, shape=None):
    ink = _ref_ink(gray)
    ys, xs = np.nonzero(ink)
    if ys.size < 2:
        return 0.0, 0.0, 0.0, 0.5, 0.5, 0.0
    h, w = gray.shape
    edge = float(ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any())
    scale = (shape[1] / w) if shape else 1.0
    sx, sy = (float(xs.std()) + 0.3) * scale, (float(ys.std()) + 0.3) * scale
    cx, cy = (float(xs.mean()) + 0.5) / w, (float(ys.mean()) + 0.5) / h
    return sx, sy, float(ys.size) * scale * scale, cx, cy, edge


def _ref_similarity(mask_a, mask_b, radius):
    def grow(x):
        h, w = x.shape[-2:]
        padded = np.pad(x, [(0, 0), (radius, radius), (radius, radius)])
        out = x.copy()
        for dy in range(2 * radius + 1):
            for dx in range(2 * radius + 1):
                np.maximum(out, padded[:, dy : dy + h, dx : dx + w], out=out)
        return out

    a, b = mask_a.reshape(len(mask_a), -1), mask_b.reshape(len(mask_b), -1)
    ga, gb = grow(mask_a).reshape(len(a), -1), grow(mask_b).reshape(len(b), -1)
    na, nb = a.sum(axis=1), b.sum(axis=1)
    in_a, in_b = (a & gb).sum(axis=1) / np.maximum(na, 1), (b & ga).sum(axis=1) / np.maximum(nb, 1)
    return np.where((na > 0) & (nb > 0), np.minimum(in_a, in_b), 0.0)


def _log_ratio(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = (x > 0) & (y > 0)
    return np.where(ok, np.log(np.where(ok, x, 1.0) / np.where(ok, y, 1.0)), np.inf)


def _ref_gate(a, b, scale_tol, crop_max, crop_tol, resize_tol, aspect_tol, place_tol, turn_tol, cut_tol):
    wa, ha = a["canvas_w"].astype(np.float64), a["canvas_h"].astype(np.float64)
    wb, hb = b["canvas_w"].astype(np.float64), b["canvas_h"].astype(np.float64)
    lw, lh = _log_ratio(wa, wb), _log_ratio(ha, hb)
    lx, ly, lar = _log_ratio(a["sx"], b["sx"]), _log_ratio(a["sy"], b["sy"]), _log_ratio(a["area"], b["area"])
    lr = _log_ratio(np.hypot(a["sx"], a["sy"]), np.hypot(b["sx"], b["sy"]))
    equal = (wa == wb) & (ha == hb)
    ea, eb = a["edge"] > 0, b["edge"] > 0
    lo, hi = np.where(ea, -cut_tol, -crop_tol), np.where(eb, cut_tol, crop_tol)
    spread_tol = np.where(ea | eb, cut_tol, crop_tol)
    pixels = (lar >= lo) & (lar <= hi) & (np.abs(lx) <= spread_tol) & (np.abs(ly) <= spread_tol)
    stayed = (np.abs(a["cx"] - b["cx"]) <= turn_tol) & (np.abs(a["cy"] - b["cy"]) <= turn_tol)
    same = equal & (pixels | (stayed & (np.abs(lr) <= scale_tol)))
    a_big = wa * ha >= wb * hb
    sw, sh = np.where(a_big, lw, -lw), np.where(a_big, lh, -lh)
    inside = (sw >= 0) & (sh >= 0) & (sw <= crop_max) & (sh <= crop_max)
    dx = np.where(a_big, 1, -1) * (a["cx"] * wa - b["cx"] * wb)
    dy = np.where(a_big, 1, -1) * (a["cy"] * ha - b["cy"] * hb)
    moved = (dx >= -1.5) & (dx <= np.abs(wa - wb) + 1.5) & (dy >= -1.5) & (dy <= np.abs(ha - hb) + 1.5)
    crop = ~equal & inside & pixels & moved
    f = np.exp(np.abs(0.5 * (lw + lh)))
    sxa, sxb, sya, syb = (np.asarray(x, np.float64) for x in (a["sx"], b["sx"], a["sy"], b["sy"]))
    big_x, small_x = np.where(a_big, sxa, sxb), np.where(a_big, sxb, sxa)
    big_y, small_y = np.where(a_big, sya, syb), np.where(a_big, syb, sya)
    spread = (np.abs(big_x - f * small_x) <= resize_tol * big_x + 0.5 * f) & (
        np.abs(big_y - f * small_y) <= resize_tol * big_y + 0.5 * f
    )
    place = (np.abs(a["cx"] - b["cx"]) <= place_tol) & (np.abs(a["cy"] - b["cy"]) <= place_tol)
    resize = ~equal & (np.abs(lw - lh) <= aspect_tol) & spread & place
    return (a["area"] > 0) & (b["area"] > 0) & (same | crop | resize)


# ---- the images ----


def _images() -> list[np.ndarray]:
    """`dcai synth` numerals and their planted near copies, noise, flat, one-pixel and light-on-dark images."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(60):
        g = draw_numeral(i % 10, writer_style(0, i // 3), Dice(0, i))
        out += [g, planted.transform(g, planted.TRANSFORMS[i % len(planted.TRANSFORMS)], rng)[0], 255 - g]
    out += [rng.integers(0, 256, tuple(rng.integers(1, 90, 2))).astype(np.uint8) for _ in range(40)]
    dot = np.full((9, 9), 255, np.uint8)
    dot[4, 4] = 0
    big = np.full((300, 280), 250, np.uint8)
    big[20:260:3, 30:250] = 10  # many ink pixels: numpy's pairwise sums recurse
    out += [np.full((5, 7), 255, np.uint8), np.zeros((3, 3), np.uint8), dot, big]
    return out


# ---- the tests ----


def test_normalise_and_geometry_match_the_numpy_reference_bit_for_bit():
    images = _images()
    shapes = [(g.shape[0] * 2, g.shape[1] * 2) for g in images]  # as if decode had halved them
    for size in (16, 32):
        got = normalise.normalise_batch(images, size=size, shapes=shapes)
        for i, g in enumerate(images):
            assert np.array_equal(normalise.ink_mask(g), _ref_ink(g))
            mask, extent, stroke = _ref_normalise(g, size)
            assert np.array_equal(got["mask"][i], mask), i
            want = (extent, stroke, *_ref_geometry(g, shapes[i]))
            names = ("extent", "stroke", "sx", "sy", "area", "cx", "cy", "edge")
            assert [got[k][i] for k in names] == [np.float32(v) for v in want], i
            assert normalise.geometry(g) == _ref_geometry(g)
            assert normalise.normalise(g, size=size)[1:] == (extent, stroke)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1000, 65_537])
def test_pairwise_sum_and_std_are_numpys(n):
    rng = np.random.default_rng(n)
    x = rng.random(n) * 1e3
    assert normalise._pairwise_sum(x) == np.sum(x)
    v = rng.integers(0, 300, n)
    assert normalise._std(v, v.mean()) == v.std()


@pytest.mark.parametrize("size", [8, 16, 24, 32, 40, 56])
@pytest.mark.parametrize("radius", [0, 1, 2])
def test_similarity_on_packed_rows_matches_the_dilated_masks(size, radius):
    rng = np.random.default_rng(size * 10 + radius)
    a = rng.random((400, size, size)) < rng.random((400, 1, 1)) * 0.5
    b = a ^ (rng.random((400, size, size)) < 0.05)  # near the first: overlaps spread over [0, 1]
    b[:20] = False  # an empty side scores 0
    assert np.array_equal(verify.similarity(a, b, radius=radius), _ref_similarity(a, b, radius))


def test_mask_wider_than_a_row_word_is_refused():
    with pytest.raises(ValueError, match="56"):
        verify.similarity(np.ones((1, 64, 64), bool), np.ones((1, 64, 64), bool))
    with pytest.raises(Exception, match="size"):
        DedupConfig(size=64, grid=16)


def test_gate_matches_the_numpy_reference():
    """Features drawn so that every branch (same canvas, crop, resize) sits near its tolerances."""
    rng = np.random.default_rng(7)
    n = 200_000
    w = rng.integers(40, 130, n)
    h = rng.integers(40, 130, n)
    a = {
        "canvas_w": w.astype(np.int32),
        "canvas_h": h.astype(np.int32),
        "sx": rng.uniform(3, 30, n).astype(np.float32),
        "sy": rng.uniform(3, 30, n).astype(np.float32),
        "area": rng.uniform(0, 900, n).round().astype(np.float32),
        "cx": rng.uniform(0.3, 0.7, n).astype(np.float32),
        "cy": rng.uniform(0.3, 0.7, n).astype(np.float32),
        "edge": (rng.random(n) < 0.3).astype(np.float32),
    }
    kind = rng.integers(0, 3, n)  # 0 same canvas, 1 crop, 2 resize
    f = np.where(kind == 2, rng.uniform(0.5, 2.0, n), 1.0)
    cut = np.where(kind == 1, rng.uniform(0, 0.15, (2, n)), 0.0)
    b = {
        "canvas_w": np.maximum(1, np.round(w * f * (1 - cut[0]))).astype(np.int32),
        "canvas_h": np.maximum(1, np.round(h * f * (1 - cut[1]))).astype(np.int32),
        "edge": (rng.random(n) < 0.3).astype(np.float32),
    }
    jitter = lambda x, s: (x * np.exp(rng.normal(0, s, n))).astype(np.float32)  # noqa: E731
    b["sx"], b["sy"] = jitter(a["sx"] * f, 0.04), jitter(a["sy"] * f, 0.04)
    b["area"] = np.round(jitter(a["area"] * f * f, 0.04)).astype(np.float32)
    b["cx"] = (a["cx"] + rng.normal(0, 0.02, n)).astype(np.float32)
    b["cy"] = (a["cy"] + rng.normal(0, 0.02, n)).astype(np.float32)
    opts = DedupConfig().gate_options()
    want = _ref_gate(a, b, **opts)
    assert 0.05 < want.mean() < 0.95  # both outcomes well represented
    assert np.array_equal(verify.gate(a, b, **opts), want)
    assert np.array_equal(verify.gate(b, a, **opts), _ref_gate(b, a, **opts))
