"""The native-resolution pixel check of near pairs (dcai.dedup.pixels): promised transforms pass, other drawings fail."""

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from dcai.dedup import align, pixels, resample
from dcai.imaging import BadImage
from dcai.synth.plant import near_duplicate
from dcai.synth.render import Dice, draw_numeral, encode_png, writer_style

KINDS = ("resize", "jpeg", "shift", "crop", "thickness", "rotate")


def _source(i: int, *, seed: int = 0) -> tuple[np.ndarray, object]:
    writer = writer_style(seed, i)
    return draw_numeral(i % 10, writer, Dice(seed, i)), writer


def _copy(kind: str, i: int) -> tuple[np.ndarray, np.ndarray, str]:
    src, writer = _source(i)

    def redraw(delta):
        return draw_numeral(i % 10, writer, Dice(0, i), width_delta=delta)

    data, _, how = near_duplicate(kind, src, Dice(0, 1000 + i, 1), redraw=redraw)
    return src, np.asarray(Image.open(io.BytesIO(data)).convert("L")), how


@pytest.mark.parametrize("kind", KINDS)
def test_every_promised_transform_is_explained(kind):
    for i in range(12):
        src, copy, how = _copy(kind, i)
        ratio, name = pixels.explain(src, copy)
        assert ratio <= 1.0, f"{how} of drawing {i}: ratio {ratio:.2f} ({name})"
        assert pixels.explain(copy, src)[0] <= 1.0  # either image may come first


def test_generic_variants_of_the_transforms_pass():
    """Not only PIL's bilinear: bicubic rotation, area downscale, morphological thickening, JPEG on a crop."""
    src = Image.fromarray(_source(3)[0])
    w, h = src.size
    buf = io.BytesIO()
    src.crop((3, 2, w - 4, h - 1)).save(buf, format="JPEG", quality=50)
    variants = [
        src.rotate(-3.5, resample=Image.Resampling.BICUBIC, fillcolor=255),
        src.resize((round(w * 0.6), round(h * 0.6)), Image.Resampling.BOX),
        src.resize((round(w * 1.3), round(h * 1.3)), Image.Resampling.LANCZOS),
        src.filter(__import__("PIL.ImageFilter").ImageFilter.MinFilter(3)),
        Image.open(buf).convert("L"),
    ]
    for v in variants:
        assert pixels.explain(np.asarray(src), np.asarray(v))[0] <= 1.0


def test_two_drawings_by_one_writer_fail():
    """Same writer, same class, same canvas habit: the pairs the cheap gates let through on `dcai synth`."""
    for i in range(20):
        writer = writer_style(0, i)
        one = draw_numeral(i % 10, writer, Dice(0, 100 + i))
        two = draw_numeral(i % 10, writer, Dice(0, 200 + i))
        ratio, name = pixels.explain(one, two, stop=False)
        assert ratio > 1.0, f"writer {i}: two drawings explained as {name} ({ratio:.2f})"


def _placed(frame_shape: tuple[int, int], moved: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference: ``moved`` pasted at offset ``(dy, dx)`` into a zero (paper) array of ``frame_shape``, overflow dropped."""
    h, w = frame_shape
    mh, mw = moved.shape
    out = np.zeros(frame_shape, np.float32)
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(h, dy + mh), min(w, dx + mw)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = moved[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out


def test_lag_errors_match_every_placement_summed_directly():
    rng = np.random.default_rng(0)
    for _ in range(200):
        f, m = rng.random(int(rng.integers(1, 40))), rng.random(int(rng.integers(1, 40)))
        lags = range(-int(rng.integers(0, 50)), int(rng.integers(1, 50)))
        want = [((f - _placed((1, len(f)), m[None, :], 0, d)[0]) ** 2).sum() for d in lags]
        assert np.allclose(align._lag_errors(f, m, lags), want)


def test_profile_offsets_find_every_planted_shift_and_crop():
    """The row / column profiles point at the offset a full 2-D search would find: residual 0 there."""
    checked = 0
    for i in range(10):
        p = pixels.darkness(_source(i)[0]) / 255.0
        h, w = p.shape
        m = int(0.11 * h + 0.5)
        rng = np.random.default_rng(i)
        dy, dx = (int(v) for v in rng.integers(-m, m + 1, 2))
        moved = _placed(p.shape, p, dy, dx)
        if not np.isclose(moved.sum(), p.sum()):
            continue  # ink cut at the border: the shift is not a pure one
        assert align.candidate_offsets(moved, p, range(-m, m + 1), range(-m, m + 1))[0] == (dy, dx)
        assert align.best_shift(p, moved, range(-m, m + 1), range(-m, m + 1)) == 0.0
        oy, ox = (int(v) for v in rng.integers(0, m + 1, 2))
        small = p[oy : oy + h - m, ox : ox + w - m]
        r, off = align.best_placement(small, p, range(-m, 1), range(-m, 1))
        assert r == 0.0, f"drawing {i}: crop at {(oy, ox)} not found (best {off}, residual {r:.3f})"
        checked += 1
    assert checked >= 5


def test_a_shift_that_cut_ink_at_the_border_is_explained_in_either_order():
    """The shifted copy lost ink at the border: its profiles match the original's only when the original
    is pasted into the copy's frame, whichever image comes first."""
    from bench import planted

    rng = np.random.default_rng(7)
    glyphs = [planted.glyph(rng, strokes=int(k)) for k in rng.integers(2, 4, 10)]
    moved = planted.transform(glyphs[5], "shift", np.random.default_rng(1))[0]
    assert (255 - moved.astype(int)).sum() < (255 - glyphs[5].astype(int)).sum()  # ink was cut
    assert pixels.explain(glyphs[5], moved) == (0.0, "shift")
    assert pixels.explain(moved, glyphs[5]) == (0.0, "shift")


def test_residual_is_size_free_and_zero_for_equal_ink():
    p = np.zeros((20, 20), np.float32)
    p[5:15, 9:11] = 1.0
    assert align.residual(p, p) == 0.0
    big = np.kron(p, np.ones((3, 3), np.float32))
    q = np.roll(p, 4, axis=1)
    assert align.residual(p, q) == pytest.approx(align.residual(big, np.kron(q, np.ones((3, 3)))))


def test_unreadable_file_is_named(tmp_path):
    good, bad = tmp_path / "a.png", tmp_path / "gone.png"
    good.write_bytes(encode_png(_source(1)[0]))
    batch = pa.table({"a": [0], "b": [1], "uri_a": [str(good)], "uri_b": [str(bad)]})
    with pytest.raises(BadImage, match="gone.png"):
        pixels.explain_table(batch)
    bad.write_bytes(b"not an image")
    with pytest.raises(BadImage, match="gone.png"):
        pixels.explain_table(batch)


def test_explain_table_returns_ratio_and_transform(tmp_path):
    src, copy, _ = _copy("shift", 2)
    (tmp_path / "s.png").write_bytes(encode_png(src))
    (tmp_path / "c.png").write_bytes(encode_png(copy))
    (tmp_path / "o.png").write_bytes(encode_png(draw_numeral(2, writer_style(0, 2), Dice(0, 77))))
    uris = [str(tmp_path / n) for n in ("s.png", "c.png", "o.png")]
    batch = pa.table({"a": [0, 0], "b": [1, 2], "uri_a": [uris[0]] * 2, "uri_b": uris[1:]})
    out = pixels.explain_table(batch).to_pydict()
    assert out["a"] == [0, 0] and out["b"] == [1, 2]
    assert out["ratio"][0] <= 1.0 and out["transform"][0] == "shift" and out["ratio"][1] > 1.0


def test_inline_store_keeps_each_file_by_idx_and_skips_nulls():
    data = pa.array([b"ccc", None, b"a", b"", b"bb"], pa.binary())
    store = pixels.inline_store(
        np.array([7, 3, 1, 9, 4]), pa.chunked_array([data.slice(0, 2), data.slice(2)])
    )
    assert store["idx"].tolist() == [1, 4, 7, 9]
    got = [store["blob"][store["offsets"][k] : store["offsets"][k + 1]].tobytes() for k in range(4)]
    assert got == [b"a", b"bb", b"ccc", b""]


def test_explain_table_reads_the_store_before_the_disk(tmp_path):
    src, copy, _ = _copy("shift", 2)
    (tmp_path / "s.png").write_bytes(encode_png(src))
    kept = encode_png(copy)  # b's file is gone: only its kept copy can answer
    batch = pa.table(
        {"a": [0], "b": [5], "uri_a": [str(tmp_path / "s.png")], "uri_b": [str(tmp_path / "c.png")]}
    )
    store = pixels.inline_store(np.array([5]), pa.array([kept], pa.binary()))
    out = pixels.explain_table(batch, store=store).to_pydict()
    assert out["transform"] == ["shift"] and out["ratio"][0] <= 1.0
    with pytest.raises(BadImage, match="c.png"):
        pixels.explain_table(batch)
    broken = pixels.inline_store(np.array([5]), pa.array([b"not an image"], pa.binary()))
    with pytest.raises(BadImage, match="c.png.*kept in the sketches"):
        pixels.explain_table(batch, store=broken)


def test_read_inline_takes_the_needed_files_and_gives_up_past_the_limit(tmp_path):
    import pyarrow.parquet as pq

    from dcai.dedup.stored import read_inline

    folder = tmp_path / "signatures.parquet"
    folder.mkdir()
    for k, rows in enumerate(([0, 1], [2, 3])):
        data = pa.array([bytes([r]) * 10 if r != 3 else None for r in rows], pa.binary())
        pq.write_table(pa.table({"idx": pa.array(rows, pa.int64()), "data": data}), folder / f"{k}.parquet")
    store = read_inline([(folder, 5)], np.array([5, 7, 8]), limit=1000)  # offset 5: rows 0, 2, 3 needed
    assert store is not None and store["idx"].tolist() == [5, 7]  # row 3 kept no file: re-read
    assert store["blob"].tobytes() == bytes([0]) * 10 + bytes([2]) * 10
    assert read_inline([(folder, 5)], np.array([5, 7, 8]), limit=15) is None  # past the limit: re-read all
    assert read_inline([(folder, 5)], np.array([9]), limit=1000) is None  # nothing kept among the needed
    old = tmp_path / "old.parquet"
    old.mkdir()
    pq.write_table(pa.table({"idx": pa.array([0], pa.int64())}), old / "0.parquet")
    assert read_inline([(old, 0)], np.array([0]), limit=1000) is None  # sketched before the column


def test_compiled_resize_and_turn_reproduce_pils_pixels():
    """The pixel check resamples as PIL does (the planted copies are PIL's): same pixels to float rounding."""
    rng = np.random.default_rng(3)
    for it in range(60):
        h, w = (int(v) for v in rng.integers(3, 140, 2))
        p = (rng.random((h, w)) * (rng.random((h, w)) < 0.3)).astype(np.float32)
        oh, ow = (
            (h if it % 5 == 0 else int(rng.integers(2, 170))),
            (w if it % 7 == 0 else int(rng.integers(2, 170))),
        )
        for box, how in ((False, Image.Resampling.BILINEAR), (True, Image.Resampling.BOX)):
            want = np.asarray(Image.fromarray(p, mode="F").resize((ow, oh), how))
            assert np.abs(resample.resize(p, (oh, ow), box) - want).max() < 1e-6
        q = (rng.random((h, w)) * (rng.random((h, w)) < 0.3)).astype(np.float32)
        t, center = float(rng.uniform(-6, 6)), (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        turned = Image.fromarray(p, mode="F").rotate(
            t, resample=Image.Resampling.BILINEAR, fillcolor=0.0, center=center
        )
        want = align.residual(np.asarray(turned), q)
        got = align._turned_residual(p, q, align._turn_matrix(t, center), align.NOISE)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_plain_pngs_decode_as_pil_and_every_other_file_goes_to_pil():
    from dcai.dedup import normalise

    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, (23, 31), dtype=np.uint8)
    rgb = rng.integers(0, 256, (17, 9, 3), dtype=np.uint8)
    for arr, mode in (
        (grey, "L"),
        (rgb, "RGB"),
        (grey, "P"),
        (rgb, "RGBA"),
        (grey.astype(np.uint16) * 200, "I;16"),
    ):
        img = Image.fromarray(arr).convert(mode)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        data = buf.getvalue()
        fast = normalise.plain_png(data)
        assert (fast is not None) == (mode in ("L", "RGB")), mode
        if fast is not None:
            assert np.array_equal(fast, np.asarray(Image.open(io.BytesIO(data))))
        gray, digest, shape = normalise.decode(data)
        assert gray.shape == shape == arr.shape[:2] and len(digest) == 40
    broken = bytearray(encode_png(grey))
    broken[60:80] = b"\x00" * 20  # inside the image data: libspng refuses it, and PIL names the problem
    assert normalise.plain_png(bytes(broken)) is None
    assert normalise.plain_png(encode_png(grey)[:-30]) is None  # truncated
    with pytest.raises(OSError, match="broken data stream"):
        normalise.decode(bytes(broken))


def test_residual_at_an_offset_is_the_residual_of_the_pasted_copy():
    rng = np.random.default_rng(5)
    for _ in range(100):
        frame = rng.random(tuple(int(v) for v in rng.integers(2, 30, 2))).astype(np.float32)
        moved = rng.random(tuple(int(v) for v in rng.integers(2, 30, 2))).astype(np.float32)
        dy, dx = (int(v) for v in rng.integers(-35, 35, 2))
        want = align.residual(_placed(frame.shape, moved, dy, dx), frame)
        assert align._residual_at(frame, moved, dy, dx, align.NOISE) == pytest.approx(want, rel=1e-5)
