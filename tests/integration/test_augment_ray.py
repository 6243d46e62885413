"""augment → balance → split on local Ray, over a tiny run made from PIL-drawn numerals."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcai import cli, imaging, manifest
from dcai.augment.config import AugmentConfig
from dcai.augment.pipeline import run as run_augment
from dcai.ingest.config import IngestConfig
from dcai.ingest.pipeline import run as run_ingest
from dcai.runs import Run
from tests.unit.test_augment_glyphs import draw_numeral

CLASSES = ["i", "ii", "iii", "iv", "vi"]


def make_stroke_counter():
    """A stand-in for the fixed model: reads i / ii / iii by counting dark column runs, else iv or vi by
    where the widest run sits. Good enough to accept most crops and reject the ones that cut a stroke.
    Built in a function so Ray pickles it by value (workers cannot import this test module)."""
    classes = list(CLASSES)

    def classify(batch: np.ndarray) -> np.ndarray:
        dark = (batch < 128).any(axis=1)
        runs = (dark & ~np.pad(dark, ((0, 0), (1, 0)))[:, :-1]).sum(axis=1)
        scores = np.zeros((len(batch), len(classes)))
        for k, r in enumerate(runs):
            if r in (1, 2, 3):
                scores[k, int(r) - 1] = 1
            else:
                widths = np.diff(np.flatnonzero(np.diff(np.r_[0, dark[k].astype(int), 0])))[::2]
                scores[k, 3 if len(widths) and widths.argmax() == len(widths) - 1 else 4] = 1
        return scores

    return classify


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "train"
    for label in CLASSES:
        (src / label).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(draw_numeral(label, glyph_w=14 + 2 * k, stroke=3 + k % 2)).save(
                src / label / f"{k}.png"
            )
    wide = np.full((64, 200), 255, np.uint8)
    wide[:, 60 : 60 + 36] = draw_numeral("ii")[:, 10:46]  # ratio 3.1: becomes a square around its ink
    Image.fromarray(wide).save(src / "ii" / "wide.png")
    (tmp_path / "src" / "val" / "i").mkdir(parents=True)
    Image.fromarray(draw_numeral("i", glyph_w=30)).save(tmp_path / "src" / "val" / "i" / "v0.png")
    run_dir = tmp_path / "run"
    run_ingest(str(run_dir), IngestConfig(), source=str(tmp_path / "src"))
    return run_dir


def test_augment_balance_split_on_ray(ray_local, tiny_run, capsys):
    cfg = AugmentConfig(
        sources={"mirror": 2, "autoaugment": 2, "heavy": 1, "crop": 3, "compose": 2}, batch_size=8
    )
    report, ran = run_augment(
        str(tiny_run), cfg, classify=make_stroke_counter(), classes=CLASSES, classify_key="strokes"
    )
    # wide.png and the two narrowest i's (34 and 36 px wide, 64 high) are longer than 1.75
    assert ran and report["aspect_replaced"] == 3
    table = Run(tiny_run).manifest("augment")
    derived = table.filter(pa_not_original(table))
    assert derived.num_rows == report["added_total"]  # aspect squares included
    assert report["added"]["mirror"] == {"i": 2, "ii": 2, "iii": 2, "iv": 2, "vi": 2}  # iv <-> vi swap
    assert sum(report["rejected"]["crop"].values()) > 0 and sum(report["added"]["crop"].values()) > 0
    assert sum(report["added"]["compose"].values()) > 0
    assert report["added"]["heavy"] == {c: 1 for c in CLASSES}
    ids = set(table.column("id").to_pylist())
    for row in derived.to_pylist():
        assert row["parent"] in ids and row["split"] == "train" and row["reason"].startswith("augment: ")
        assert imaging.load(row["uri"]).shape == (row["height"], row["width"])  # final path, after the rename
    replaced = table.filter(pa_eq(table, "split", "removed")).to_pylist()
    assert sorted(Path(r["source_uri"]).name for r in replaced) == ["0.png", "1.png", "wide.png"]
    squares = table.filter(pa_eq(table, "origin", "aspect")).to_pylist()
    assert sorted(r["parent"] for r in squares) == sorted(r["id"] for r in replaced)
    assert all(r["width"] == r["height"] for r in squares)
    # the val image was never a parent
    val_id = table.filter(pa_eq(table, "split", "val")).column("id")[0].as_py()
    assert val_id not in set(derived.column("parent").to_pylist())
    assert (
        run_augment(
            str(tiny_run), cfg, classify=make_stroke_counter(), classes=CLASSES, classify_key="strokes"
        )[1]
        is False
    )

    assert cli.main(["balance", "--run", str(tiny_run), "--budget", "40", "--json"]) == 0
    bal = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    balanced = Run(tiny_run).manifest("balance")
    assert balanced.num_rows == table.num_rows and bal["kept_total"] <= 40
    pool = np.isin(manifest.column(balanced, "split"), ["train", "val"])
    assert len(set(Counter(manifest.column(balanced, "label")[pool]).values())) == 1

    assert cli.main(["split", "--run", str(tiny_run), "--folds", "4", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    out = Run(tiny_run).manifest("split")
    assert out.num_rows == balanced.num_rows and rep["n_folds"] == 4
    split, fold, parent = (manifest.column(out, c) for c in ("split", "fold", "parent"))
    index = {i: k for k, i in enumerate(out.column("id").to_pylist())}
    for k, p in enumerate(parent):
        # a derived image in play sits in its parent's fold (the parent may wait in surplus)
        if p is not None and split[k] in ("train", "val") and split[index[p]] in ("train", "val"):
            assert fold[k] == fold[index[p]] and split[k] == split[index[p]]
    assert (split == "val").any() and (split == "train").any()


def pa_eq(table, column, value):
    import pyarrow.compute as pc

    return pc.equal(table.column(column), value)


def pa_not_original(table):
    import pyarrow.compute as pc

    return pc.not_equal(table.column("origin"), "original")
