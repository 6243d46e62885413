"""Exact and near detection on tiny synthetic sets, the keep/remove policy and the manifest columns (no Ray)."""

import numpy as np
import pyarrow as pa
import pytest

from bench import planted
from dcai import manifest
from dcai.config import ConfigError
from dcai.dedup import exact, join, lsh, normalise, policy, sketch, verify
from dcai.dedup.config import DedupConfig

CFG = DedupConfig()


def _glyph(seed, strokes=3):
    return planted.glyph(np.random.default_rng(seed), strokes=strokes)


def _accepted(images: list[bytes]) -> set[tuple[int, int]]:
    """The pipeline's near path without Ray: sketches → band rows → bucket pairs → verified pairs."""
    sk = sketch.sketch(images, CFG)
    idx = np.arange(len(images))
    geo = lsh.geo_keys(sk["canvas_w"], sk["canvas_h"], sk["sy"])
    rows = [
        lsh.band_rows(idx, sk["bands"], sk["phash"], source=0, geo=geo),
        lsh.band_rows(idx, lsh.phash_keys(sk["phash"]), sk["phash"], source=1, geo=geo),
    ]
    rows = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    p = lsh.bucket_pairs(
        rows, max_bucket=CFG.max_bucket, hot_window=CFG.hot_window, phash_distance=CFG.phash_distance
    )
    m = normalise.unpack(sk["mask"], CFG.size)
    a, b = p["a"], p["b"]
    feats = [k for k in join.FEATURES if k != "mask"]
    ok = (verify.similarity(m[a], m[b], radius=CFG.radius) >= CFG.threshold) & verify.gate(
        {k: sk[k][a] for k in feats}, {k: sk[k][b] for k in feats}, **CFG.gate_options()
    )
    return {(int(x), int(y)) for x, y in zip(a[ok], b[ok])}


@pytest.mark.parametrize("kind", ["jpeg", "shift", "resize", "thicken"])
def test_near_copy_is_found_and_a_different_glyph_is_not(kind):
    src = _glyph(1)
    copy, _ = planted.transform(src, kind, np.random.default_rng(2))
    other = _glyph(3, strokes=2)
    found = _accepted(
        [
            planted.encode(src),
            planted.encode(copy, "JPEG" if kind == "jpeg" else "PNG"),
            planted.encode(other),
        ]
    )
    assert (0, 1) in found
    assert not {(0, 2), (1, 2)} & found


def _geo(w, h, sx, sy, area, cx, cy, edge=0.0):
    names = ("canvas_w", "canvas_h", "sx", "sy", "area", "cx", "cy", "edge")
    return {k: np.array([v], float) for k, v in zip(names, (w, h, sx, sy, area, cx, cy, edge))}


def test_geometry_gate_passes_the_promised_transforms_only():
    src = _geo(100, 80, 5.0, 20.0, 300, 0.5, 0.5)
    ok = lambda other: bool(verify.gate(src, other, **CFG.gate_options())[0])  # noqa: E731
    assert ok(_geo(100, 80, 5.4, 20.5, 420, 0.52, 0.48))  # same canvas, in place: rotation / thicker stroke
    assert ok(_geo(100, 80, 5.0, 20.0, 300, 0.42, 0.57))  # same canvas, same pixels moved: shift
    assert not ok(_geo(100, 80, 5.4, 20.5, 420, 0.42, 0.57))  # resampled and moved: another drawing
    assert ok(_geo(100, 80, 5.0, 19.0, 285, 0.5, 0.62, edge=1.0))  # shifted so far that ink was cut off
    assert not ok(_geo(100, 80, 5.0, 19.0, 320, 0.5, 0.62, edge=1.0))  # ...but a cut never adds ink
    # crop 6 px left, 4 px top, 2 px right: same pixels, centroid moved left by what was cut there
    assert ok(_geo(92, 76, 5.0, 20.0, 300, (50 - 6) / 92, (40 - 4) / 76))
    assert not ok(_geo(92, 76, 5.0, 20.0, 300, (50 + 3) / 92, (40 - 4) / 76))  # moved the wrong way
    assert not ok(_geo(92, 76, 5.0, 18.0, 300, (50 - 6) / 92, (40 - 4) / 76))  # resampled: not a crop
    assert ok(_geo(50, 40, 2.5, 10.0, 80, 0.5, 0.5))  # resize by 0.5
    assert not ok(_geo(50, 40, 2.5, 12.0, 80, 0.5, 0.5))  # resized canvas, different glyph height
    assert not ok(_geo(50, 40, 2.5, 10.0, 80, 0.55, 0.5))  # resized canvas, glyph elsewhere
    assert not ok(_geo(100, 80, 5.0, 20.0, 0, 0.5, 0.5))  # no ink


def test_pixel_hash_ignores_container_and_bytes_hash_does_not():
    g = _glyph(4)
    png, bmp = planted.encode(g), planted.encode(g, "BMP")
    (_, h_png), (_, h_bmp) = normalise.decode_gray(png), normalise.decode_gray(bmp)
    assert h_png == h_bmp
    codes = exact.codes(pa.array([h_png, h_bmp, "other", None, None]))
    a, b = exact.edges(codes)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1)]  # missing hashes never match each other
    assert exact.representatives(codes).tolist() == [True, False, True, True, True]


def test_blank_image_has_empty_mask_and_is_not_near_matched():
    blank = np.full((40, 40), 250, np.uint8)
    sk = sketch.sketch([planted.encode(blank)], CFG)
    assert sk["ink"][0] == 0 and (sk["minhash"] == np.uint32(0xFFFFFFFF)).all()


def _decide(splits, labels, trusted=None, comp=None):
    n = len(splits)
    return policy.decide(
        np.zeros(n, np.int64) if comp is None else np.asarray(comp),
        ids=np.array([f"r{i}" for i in range(n)], object),
        splits=np.array(splits, object),
        labels=np.array(labels, object),
        stay=np.array(trusted or [False] * n),
        area=np.full(n, 100),
        bytes_code=np.arange(n),
        pixel_code=np.arange(n),
    )


def test_policy_prefers_train_then_trusted_stays_and_conflicts_are_flagged():
    d = _decide(["val", "train", "val"], ["v", "v", "v"])
    assert d["dup_of"].tolist() == ["r1", None, "r1"] and d["remove"].tolist() == [True, False, True]
    d = _decide(["train", "label_book"], ["v", "v"], trusted=[False, True])
    assert d["remove"].tolist() == [True, False] and d["dup_group"].tolist() == ["r1", "r1"]
    d = _decide(["train", "val"], ["iv", "vi"])
    assert d["dup_conflict"].all() and not d["remove"].any()
    d = _decide(["train", "val", "train"], ["i", "i", "i"], comp=[0, 1, 2])
    assert (d["dup_group"] == None).all()  # noqa: E711 - singletons are in no group


def test_leakage_lists_groups_that_straddle_splits():
    d = _decide(["train", "val", "train", "train"], ["i"] * 4, comp=[0, 0, 2, 2])
    leak = policy.leakage(
        d["dup_group"],
        ids=np.array(["a", "b", "c", "d"], object),
        splits=np.array(["train", "val", "train", "train"], object),
        labels=np.array(["i"] * 4, object),
        kinds=d["dup_kind"],
    )
    assert leak["groups"] == 1 and leak["by_splits"] == {"train+val": 1}


def test_apply_keeps_every_row_and_names_the_keeper():
    table = manifest.from_rows(
        [
            {"id": f"r{i}", "uri": f"/x/{i}.png", "label": "i", "split": s, "origin": "original"}
            for i, s in enumerate(["train", "val", "quarantine", "train"])
        ]
    )
    rows = np.array([0, 1, 3])  # the quarantined row is not processed
    dec = _decide(["train", "val", "train"], ["i", "i", "i"], comp=[0, 0, 2])
    dec["dup_group"] = np.array(["r0", "r0", None], object)
    dec["dup_of"] = np.array([None, "r0", None], object)
    out = policy.apply(table, rows, dec, np.full(3, None, object), 3)
    assert out.num_rows == table.num_rows
    assert out.column("split").to_pylist() == ["train", "removed", "quarantine", "train"]
    assert out.column("reason").to_pylist()[1] == "dedup: duplicate of r0"
    assert out.column("dup_group").to_pylist() == ["r0", "r0", None, None]
    manifest.validate(out)


def test_verify_pairs_gates_before_the_overlap_and_takes_no_pair():
    """``verify.verify_pairs`` = overlap ≥ threshold and the geometric gate; no candidate (or none gated) is no error."""
    rng = np.random.default_rng(3)
    g = planted.glyph(rng, strokes=2)
    images = [
        planted.encode(x) for x in (g, planted.transform(g, "jpeg", rng)[0], planted.glyph(rng, strokes=2))
    ]
    t = sketch.to_arrow(np.arange(3), sketch.sketch(images, DedupConfig()), {})
    feats = {k: t.column(k).to_numpy() for k in verify.GEOMETRY}
    feats["mask"] = normalise.packed_masks(t.column("mask"))
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    gates = CFG.gate_options()
    keep, score = verify.verify_pairs(a, b, feats, size=32, radius=1, threshold=0.95, **gates)
    masks = normalise.unpack(feats["mask"], 32)
    full = verify.similarity(masks[a], masks[b], radius=1)
    side = lambda r: {k: feats[k][r] for k in verify.GEOMETRY}  # noqa: E731
    want = np.flatnonzero((full >= 0.95) & verify.gate(side(a), side(b), **gates))
    assert keep.tolist() == want.tolist() == [0] and np.allclose(score, full[want])
    none = verify.verify_pairs(a[:0], b[:0], feats, size=32, radius=1, threshold=0.95, **gates)
    assert len(none[0]) == 0 and len(none[1]) == 0


def test_gate_tolerances_have_one_source_the_config():
    """``verify`` keeps no defaults of its own: a call without every gate fails and names the config."""
    side = {k: np.ones(1, np.float32) for k in verify.GEOMETRY}
    with pytest.raises(TypeError, match=r"missing \['turn_tol'\].*DedupConfig"):
        verify.gate(side, side, **{k: v for k, v in CFG.gate_options().items() if k != "turn_tol"})
    assert set(CFG.gate_options()) == set(verify.GATE_OPTIONS)


def test_config_refuses_the_removed_ray_shuffle():
    assert DedupConfig(shuffle="files").shuffle == "files"
    with pytest.raises(ConfigError, match="'ray' .* was removed"):
        DedupConfig(shuffle="ray")
