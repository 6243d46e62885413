"""Images through Ray Data: decoded once into the run's uint8 tensor dataset, out-of-fold prediction as a
``map_batches`` actor pool that gives the in-driver path's probabilities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dcai.models.vote import model_fn
from dcai.tensors import pipeline as tp
from dcai.tensors import store
from dcai.train import crossfit, engine
from dcai.train.data import content_hash
from tests.helpers import make_good


def _rows(tmp_path) -> pa.Table:
    paths = make_good(tmp_path / "img", classes=("i", "ii", "v", "x"), per_class=6)
    uris = [str(p) for p in paths]
    uris.append(uris[0])  # an exact duplicate: one image in the dataset, two manifest rows
    return pa.table({"uri": uris, "content_hash": [content_hash(u) for u in uris]})


def test_tensor_dataset_is_decoded_once_and_reused(ray_local, tmp_path):
    rows = _rows(tmp_path)
    run = tmp_path / "run"
    t = tp.build(run, rows, size=16, method="area")
    files = sorted(store.folder(run, 16, "area").glob("*.parquet"))
    distinct = set(rows.column("content_hash").to_pylist())  # the drawn numerals repeat: exact duplicates
    assert files and store.known_hashes(store.folder(run, 16, "area")) == distinct
    assert len(distinct) < rows.num_rows  # each stored once
    x = t.load()
    assert x.shape == (rows.num_rows, 16, 16, 3) and x.dtype == np.uint8
    assert (x[0] == x[-1]).all()
    again = tp.build(run, rows.slice(0, 5), size=16, method="area")  # a later stage: nothing to decode
    assert sorted(store.folder(run, 16, "area").glob("*.parquet")) == files
    assert (again.load() == x[:5]).all()


def test_ray_data_prediction_matches_the_driver_path(ray_local, tmp_path):
    rows = _rows(tmp_path)
    tensors = tp.build(tmp_path / "run", rows, size=16, method="area")
    x = tensors.load()
    y = np.array([int(i) // 6 for i in range(rows.num_rows - 1)] + [0])
    holdout = np.zeros(len(y), bool)
    holdout[[3, 9]] = True  # outside every fold: scored by the mean of all fold models
    cf = crossfit.plan(len(y), 3, seed=0, labels=y, trainable=~holdout)
    members, driver = [], []
    for m, name in enumerate(("lenet5", "allconv")):
        fn = model_fn(name, 4, width=0.25)
        fits = engine.fit(fn, x, y, seeds=[m * 10 + k for k in range(3)], train_masks=cf.masks, epochs=2,
                          batch_size=8, lr=1e-3, keep_best=False, device="cpu")  # fmt: skip
        states = [r.state_dict for r in fits]
        members.append((fn, states))
        driver.append(crossfit.out_of_fold(engine.predict(fn, states, x, device="cpu"), cf))
    out = tp.predict(tensors, members, cf.folds, tmp_path / "oof", actors=2, batch_size=7)
    got = tp.gather(out, len(y), 2, 4)
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, np.stack(driver), atol=1e-5)


def test_vote_on_ray_data_keeps_the_pixels_out_of_the_driver(ray_local, tmp_path):
    from dcai import manifest
    from dcai.runs import Run, StageOutput
    from dcai.vote.config import VoteConfig
    from dcai.vote.pipeline import run as vote_run

    paths = make_good(tmp_path / "src", classes=("i", "ii", "v"), per_class=8, split="train")
    rows = [{"id": f"r{k}", "uri": str(p), "label": p.parent.name, "split": "train", "origin": "original",
             "content_hash": content_hash(str(p))} for k, p in enumerate(paths)]  # fmt: skip
    run = Run(tmp_path / "run")
    run.execute("ingest", lambda _, ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)
    cfg = VoteConfig().replace(**{**VoteConfig.PRESETS["tiny"], "epochs": 1, "rounds": 2},
                               inputs="ray_data", predict_actors=1)  # fmt: skip
    report, _ = vote_run(str(run.root), cfg)
    assert report["rows_voted"] == 24 and len(report["rounds"]) == 2
    z = np.load(run.stage_dir("vote") / "probs.npz")
    assert z["probs"].shape == (2, 24, 3) and not np.isnan(z["probs"]).any()
    assert np.allclose(z["probs"].sum(-1), 1.0, atol=1e-4)
    # one prediction folder per round, each a full out-of-fold table; the images decoded once, in the run
    oof = sorted((run.stage_dir("vote") / "oof").iterdir())
    assert len(oof) == 2 and all(tp.gather(str(d), 24, 2, 3).shape == (2, 24, 3) for d in oof)
    assert len(store.known_hashes(store.folder(run.root, 32, "area"))) == len(
        {r["content_hash"] for r in rows}
    )
