"""dcai synth without Ray: drawing, planning, planting and the files and truth.csv it writes."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dcai.config import ConfigError, load
from dcai.errors import InputError
from dcai.synth import plan as plan_mod
from dcai.synth.config import NEAR_TRANSFORMS, SynthConfig
from dcai.synth.pipeline import run
from dcai.synth.plant import draw_blank, draw_off_class, draw_scribble, near_duplicate
from dcai.synth.render import CLASSES, Dice, draw_numeral, encode_png, writer_style

SMALL = SynthConfig(n=400, test_n=60, chunk_size=150)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "out"
    run(out, SMALL, use_ray=False)
    return out


@pytest.fixture(scope="module")
def truth(synth_dir) -> list[dict]:
    with open(synth_dir / "truth.csv", newline="") as f:
        return list(csv.DictReader(f))


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_every_class_has_ink_for_every_kind_of_writer():
    for writer_id in range(40):  # 40 writers cover the lower-case, barred and serif styles
        writer = writer_style(0, writer_id)
        for label in range(len(CLASSES)):
            px = draw_numeral(label, writer, Dice(0, writer_id * 10 + label))
            assert px.dtype == np.uint8 and px.ndim == 2
            assert 48 <= min(px.shape) and max(px.shape) <= 128
            assert set(np.unique(px)) <= {0, 64, 255}, "ink 0 / 64 on white, as in the competition data"
            ink = (px < 128).mean()
            assert 0.003 < ink < 0.5, (CLASSES[label], writer_id, ink)


def test_drawing_is_a_pure_function_of_seed_and_index():
    w = writer_style(3, 7)
    a = draw_numeral(5, w, Dice(3, 11))
    assert np.array_equal(a, draw_numeral(5, writer_style(3, 7), Dice(3, 11)))
    assert not np.array_equal(a, draw_numeral(5, w, Dice(3, 12)))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_encode_png_decodes_to_the_same_pixels(h, w, seed):
    px = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    img = Image.open(io.BytesIO(encode_png(px)))
    assert img.mode == "L" and np.array_equal(np.asarray(img), px)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.floats(0.01, 100.0), min_size=1, max_size=12))
def test_apportion_sums_to_total_and_follows_weights(total, weights):
    counts = plan_mod.apportion(total, np.array(weights))
    assert counts.sum() == total and (counts >= 0).all()
    assert np.all(np.abs(counts - total * np.array(weights) / sum(weights)) < 1.0 + 1e-9)


def test_junk_images():
    w = writer_style(0, 1)
    for i in range(20):
        blank = draw_blank(w, Dice(0, i))
        assert (blank == 255).mean() > 0.99
        assert (draw_scribble(w, Dice(0, i)) < 128).any()
        px, symbols = draw_off_class(w, Dice(0, i))
        assert (px < 128).any() and symbols


@pytest.mark.parametrize("kind", NEAR_TRANSFORMS)
def test_near_duplicates_differ_in_bytes_from_their_source(kind):
    for i in range(25):
        writer = writer_style(0, i)
        src = draw_numeral(i % 10, writer, Dice(0, i))

        def redraw(delta, i=i, writer=writer):
            return draw_numeral(i % 10, writer, Dice(0, i), width_delta=delta)

        data, suffix, transform = near_duplicate(kind, src, Dice(0, 1000 + i, 1), redraw=redraw)
        assert data != encode_png(src) and transform.startswith(kind) and suffix in (".png", ".jpg")
        assert Image.open(io.BytesIO(data)).convert("L").size[0] >= 8


def test_planted_counts_follow_the_rates():
    cfg = SynthConfig(n=2000, test_n=100)
    rows = plan_mod.plan(cfg)
    got = plan_mod.summary(rows)["problems"]
    want = {
        "mislabel": cfg.mislabel_rate,
        "exact_duplicate": cfg.exact_dup_rate,
        "near_duplicate": cfg.near_dup_rate,
        "blank": cfg.blank_rate,
        "scribble": cfg.scribble_rate,
        "off_class": cfg.off_class_rate,
    }
    for problem, rate in want.items():
        assert got[problem] == round(rate * cfg.n), problem
    splits = plan_mod.summary(rows)["splits"]
    assert splits["test"] == 100 and splits["label_book"] == 10 * cfg.label_book_per_class
    originals = rows["index"] < cfg.n
    assert np.sum(rows["split"][originals] == plan_mod.VAL) == round(cfg.val_fraction * cfg.n)


def test_class_imbalance_and_disjoint_test_writers():
    cfg = SynthConfig(n=5000, imbalance=3.0)
    rows = plan_mod.plan(cfg)
    counts = np.bincount(rows["true"][: cfg.n], minlength=10)
    assert 2.5 < counts.max() / counts.min() < 3.5
    test = rows["split"] == plan_mod.TEST
    assert not set(rows["writer"][test]) & set(rows["writer"][~test])
    balanced = np.bincount(plan_mod.plan(cfg.replace(imbalance=1.0))["true"][: cfg.n], minlength=10)
    assert balanced.max() - balanced.min() <= 1


def test_mislabels_are_biased_to_confusable_pairs():
    cfg = SynthConfig(n=5000, mislabel_rate=0.2)
    rows = plan_mod.plan(cfg)
    bad = rows["problem"] == plan_mod.MISLABEL
    true, given = rows["true"][bad], rows["given"][bad]
    assert np.all(true != given)
    pairs = {frozenset((CLASSES.index(a), CLASSES.index(b))) for a, b in plan_mod.CONFUSABLE}
    confusable = np.mean([frozenset((t, g)) in pairs for t, g in zip(true, given)])
    assert confusable >= cfg.confusable_fraction, confusable  # uniform relabelling would give about 1/9


def test_truth_rows_are_the_files_written(synth_dir, truth):
    files = files_under(synth_dir)
    images = {p for p in files if p.startswith(("data/", "test/"))}
    assert images == {r["path"] for r in truth}
    assert set(files) - images == {"truth.csv", "synth.json"}
    assert len(truth) == SMALL.n + 60 + 50 + sum(round(r * SMALL.n) for r in (0.03, 0.05, 0.01, 0.01, 0.01))
    for r in truth:
        assert r["path"].split("/")[-2] == r["given_label"]
        assert r["problem"] in plan_mod.PROBLEMS
        assert (r["true_label"] == "") == (r["problem"] in ("blank", "scribble", "off_class"))
        assert (r["given_label"] != r["true_label"]) == (r["problem"] == "mislabel" or r["true_label"] == "")
    assert {r["split"] for r in truth if r["path"].startswith("test/")} == {"test"}
    assert {r["problem"] for r in truth if r["split"] in ("test", "label_book")} == {"clean"}


def test_duplicates_point_at_their_source(synth_dir, truth):
    by_path = {r["path"]: r for r in truth}
    kinds, cross = Counter(), 0
    for r in truth:
        if r["problem"] not in ("exact_duplicate", "near_duplicate"):
            assert r["duplicate_of"] == ""
            continue
        src = by_path[r["duplicate_of"]]
        assert (
            src["problem"] == "clean"
            and src["true_label"] == r["true_label"]
            and src["writer"] == r["writer"]
        )
        cross += src["split"] != r["split"]
        a, b = (synth_dir / r["path"]).read_bytes(), (synth_dir / r["duplicate_of"]).read_bytes()
        if r["problem"] == "exact_duplicate":
            assert a == b and r["path"] != r["duplicate_of"]
        else:
            assert a != b
            kinds[r["transform"].split(":")[0]] += 1
    assert set(kinds) == set(NEAR_TRANSFORMS)
    assert cross > 0, "some duplicates leak across train/val"


def test_same_seed_same_bytes_any_chunking(synth_dir, tmp_path):
    again = tmp_path / "again"
    run(again, SMALL.replace(chunk_size=37), use_ray=False)
    a, b = files_under(synth_dir), files_under(again)
    a.pop("synth.json"), b.pop("synth.json")
    assert a == b
    other = tmp_path / "other"
    run(other, SynthConfig(n=30, test_n=0, seed=1), use_ray=False)
    assert not {p for p in files_under(other) if p.startswith("data/")} & set(a)


def test_refuses_to_overwrite_a_folder_that_is_not_synth_output(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not the output of an earlier"):
        run(tmp_path, SynthConfig(n=20, test_n=0), use_ray=False)
    assert (tmp_path / "mine.txt").exists()
    out = tmp_path / "out"
    first = run(out, SynthConfig(n=20, test_n=0, seed=1), use_ray=False)
    second = run(out, SynthConfig(n=30, test_n=0, seed=2), use_ray=False)  # replaces an earlier synth
    assert second["images"] == len(list((out / "data").rglob("*.*"))) != first["images"]
    assert not list(tmp_path.glob(".out*"))


def test_config_checks_and_presets():
    with pytest.raises(ConfigError, match="mislabel_rate must be in"):
        SynthConfig(mislabel_rate=1.5)
    with pytest.raises(ConfigError, match="choose from"):
        SynthConfig(near_transforms=("blur",))
    with pytest.raises(ConfigError, match="size_min"):
        SynthConfig(size_min=200, size_max=100)
    tiny = load(SynthConfig, preset="tiny")
    assert tiny.n == 200 and tiny.test_n == 50
    assert load(SynthConfig, preset="tiny", overrides={"n": 300}).n == 300


def test_report(synth_dir):
    import json

    report = json.loads((synth_dir / "synth.json").read_text())
    assert report["images"] == len(list(csv.DictReader(open(synth_dir / "truth.csv"))))
    assert report["problems"]["mislabel"] == 40 and report["images_per_s"] > 0
    assert report["truth"] == str(synth_dir / "truth.csv")
    assert report["bytes"] == sum(p.stat().st_size for p in synth_dir.rglob("*.*") if p.parent != synth_dir)
