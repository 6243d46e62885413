"""tune without Ray: config checks, the space, ASHA's rule by hand, one trial in memory, augment's tuned=true."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from dcai import manifest
from dcai.augment.augment import apply_tuned
from dcai.augment.config import AugmentConfig
from dcai.augment.pipeline import run as run_augment
from dcai.config import ConfigError, load
from dcai.runs import Run, StageOutput
from dcai.tune import search
from dcai.tune.config import TuneConfig
from dcai.tune.pipeline import run as run_tune
from dcai.tune.report_section import render_section
from dcai.tune.trial import TrialData, make_images, resize_all, trial
from tests.helpers import draw_numeral, save_png

CLASSES = ["i", "ii", "iv", "vi"]


# ---- config and space -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"trials": 0}, "trials must be >= 1"),
        ({"grace_period": 11}, "grace_period must be in 1..epochs (10)"),
        ({"reduction_factor": 1}, "reduction_factor must be >= 2"),
        ({"backend": "slurm"}, "backend must be one of ['tune', 'local']"),
        ({"device": "tpu"}, "device must be auto, cpu or cuda"),
        ({"space": {"sources.stamp": [0, 1]}}, "unknown parameter(s) ['sources.stamp']"),
        ({"space": {"sources.crop": [0, 1]}}, "space searches ['crop']: set classifier"),
        ({"space": {"heavy_options.blur": [0, 1]}}, "allowed:"),
        ({"space": {"autoaugment_prob_scale": [2.0, 1.0]}}, "low must be <= high"),
        ({"space": {"sources.mirror": []}}, "an empty list of choices"),
        ({"space": {"sources.mirror": [-1, 1]}}, "numbers >= 0"),
    ],
)
def test_config_errors_name_the_allowed_values(changes, message):
    with pytest.raises(ConfigError, match="TuneConfig") as e:
        TuneConfig(**changes)
    assert message in str(e.value)


def test_tiny_preset_and_set_overrides_load():
    assert set(load(TuneConfig, preset="tiny").space) == {"sources.affine", "sources.elastic"}
    cfg = load(TuneConfig, preset="tiny", sets=["backend=local", "space.sources.heavy=[0, 0.5]"])
    assert (cfg.trials, cfg.epochs, cfg.backend, cfg.device) == (3, 2, "local", "cpu")
    assert cfg.space == {"sources.heavy": [0, 0.5]}  # a given space replaces the default one


def test_sample_is_seeded_and_stays_in_the_space():
    space = {"sources.mirror": [0.0, 1.0], "sources.heavy": [1, 3], "autoaugment_prob_scale": [0.5, 2.0, 4.0]}
    space["heavy_options.lines"] = 0.25
    a, b = search.sample(space, 20, seed=1), search.sample(space, 20, seed=1)
    assert a == b and a != search.sample(space, 20, seed=2)
    assert all(0 <= p["sources.mirror"] <= 1 for p in a)
    assert {p["sources.heavy"] for p in a} <= {1, 2, 3} and all(
        isinstance(p["sources.heavy"], int) for p in a
    )
    assert {p["autoaugment_prob_scale"] for p in a} <= {0.5, 2.0, 4.0}
    assert {p["heavy_options.lines"] for p in a} == {0.25}


def test_overrides_are_augment_config_fields_and_split_per_class():
    params = {"sources.autoaugment": 0.6, "sources.mirror": 0.2, "autoaugment_prob_scale": 1.2}
    params["heavy_options.rotation"] = 0.03
    over = search.overrides(params, per_class=10)
    assert over["sources"] == {"affine": 0, "elastic": 0, "heavy": 0, "autoaugment": 8, "mirror": 2}
    assert over["heavy_options"] == {"rotation": 0.03} and over["autoaugment_prob_scale"] == 1.2
    AugmentConfig().replace(**over)  # every key is a field, every value valid


# ---- ASHA's rule ----------------------------------------------------------------------------


def fake_trial(params: dict, report) -> dict:
    """Val accuracy grows linearly at the rate the config names; stops when told."""
    for epoch in range(1, 9):
        if report({"epoch": epoch, "val_acc": params["q"] * epoch / 10}) is False:
            break
    return {}


def test_local_successive_halving_stops_the_weak_trials_at_their_rung():
    rungs = search.Rungs(8, 1, 2)
    assert rungs.milestones == [1, 2, 4, 8]
    params = [{"q": q} for q in (0.5, 0.9, 0.1, 0.6, 1.0)]
    done = search.run_local(params, fake_trial, max_t=8, grace_period=1, reduction_factor=2)
    # 0 and 1 meet empty rungs; 2 is below rung 1's median at once; 3 passes rung 1 but not rung 2
    assert [len(d["val_acc"]) for d in done] == [8, 8, 1, 2, 8]
    trials = search.summarize(params, [d["val_acc"] for d in done], epochs=8)
    assert [t["stopped_early"] for t in trials] == [False, False, True, True, False]
    assert search.winner(trials)["trial"] == 4


def test_rungs_decide_like_ray_tunes_asha_bracket():
    hb = pytest.importorskip("ray.tune.schedulers.async_hyperband")
    rng = np.random.default_rng(0)
    for max_t, grace, rf in ((10, 1, 3), (8, 2, 2), (9, 1, 3)):
        ours, ray = search.Rungs(max_t, grace, rf), hb._Bracket(grace, max_t, rf, 0)
        assert sorted(m for m, _ in ray._rungs) == ours.milestones
        for t in range(12):
            rate = rng.uniform(0.1, 1.0)
            for epoch in range(1, max_t + 1):
                score = rate * epoch + rng.normal(0, 0.05)
                theirs = ray.on_result(SimpleNamespace(trial_id=t), epoch, score) == "CONTINUE"
                go_on = ours.on_result(t, epoch, score)
                assert go_on == (theirs and epoch < max_t), (max_t, grace, rf, t, epoch)
                if not go_on:
                    break


# ---- one trial in memory --------------------------------------------------------------------


def tiny_data(per_class: int = 3) -> TrialData:
    parents, labels = [], []
    for c in CLASSES:
        for k in range(per_class):
            parents.append(draw_numeral(c, size=40, seed=k))
            labels.append(c)
    index = {c: i for i, c in enumerate(CLASSES)}
    y = np.array([index[c] for c in labels])
    x = resize_all(parents)
    return TrialData(CLASSES, parents, [f"id{i}" for i in range(len(labels))], labels, x, y, x[::2], y[::2])


def test_make_images_adds_the_planned_sources_with_mirrored_labels():
    params = {"sources.autoaugment": 0.5, "sources.mirror": 0.5, "sources.heavy": 0.0}
    x, y, added = make_images(params, tiny_data(), per_class=2, seed=0)
    assert added == {
        "affine": 0,
        "elastic": 0,
        "heavy": 0,
        "autoaugment": 4,
        "mirror": 4,
        "crop": 0,
        "compose": 0,
    }  # one of each per class
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.float32 and y.shape == (8,)
    again = make_images(params, tiny_data(), per_class=2, seed=0)
    np.testing.assert_array_equal(x, again[0])


def test_a_trial_keeps_only_the_crops_its_classifier_reads_right():
    params = {"sources.crop": 1.0}
    data = tiny_data()
    with pytest.raises(ConfigError, match="crop needs a classifier"):
        make_images(params, data, per_class=2, seed=0)
    reads_i = lambda batch: np.tile([1.0, 0.0, 0.0, 0.0], (len(batch), 1))  # noqa: E731 - every crop reads "i"
    data.classify = reads_i
    x, y, added = make_images(params, data, per_class=2, seed=0)
    assert added["crop"] == 2 and set(y.tolist()) == {0}  # only class i's two crops are kept
    assert x.shape == (2, 32, 32, 3)
    # with affine copies on, they make up the crops turned away, as augment does: 2 per class again
    x, y, added = make_images({"sources.crop": 0.5, "sources.affine": 0.5}, data, per_class=2, seed=0)
    assert added["crop"] == 1 and added["affine"] == 7 and np.bincount(y).tolist() == [2, 2, 2, 2]


def test_unsearched_checked_sources_keep_the_augment_counts():
    best = search.overrides({"sources.affine": 1.0}, per_class=10)
    assert best["sources"] == {"affine": 10, "elastic": 0, "heavy": 0, "autoaugment": 0, "mirror": 0}
    assert (
        search.overrides({"sources.affine": 0.5, "sources.crop": 0.5}, per_class=10)["sources"]["crop"] == 5
    )
    assert TuneConfig(classifier="dcai.augment.classifier:lenet", space={"sources.crop": [0, 1]}).space


def test_trial_reports_every_epoch_and_stops_when_told():
    seen: list[dict] = []

    def report(m: dict) -> bool:
        seen.append(m)
        return m["epoch"] < 2

    out = trial({"sources.heavy": 1.0}, tiny_data(2), epochs=5, report=report, per_class=1, device="cpu")
    assert [m["epoch"] for m in seen] == [1, 2] and len(out["val_acc"]) == 2
    assert out["added"]["heavy"] == 4 and all(0 <= m["val_acc"] <= 1 for m in seen)


def test_a_trial_of_several_seeds_scores_their_mean():
    """The seeds train at once on the same new images, each as it would alone: the curve is their mean."""
    import functools

    from dcai.models.fixed import RECIPE, fixed_net
    from dcai.train.engine import fit

    data = tiny_data(2)
    params = {"sources.affine": 1.0}
    both = trial(params, data, seeds=2, epochs=2, report=lambda m: True, per_class=1, device="cpu")["val_acc"]
    x_new, y_new, _ = make_images(params, data, per_class=1, seed=0)
    options = {k: v for k, v in RECIPE.fit_kwargs().items() if k != "epochs"}
    alone = [
        [h["val_acc"] for h in fit(functools.partial(fixed_net, len(CLASSES)), np.concatenate([data.x_train, x_new]),
                                   np.concatenate([data.y_train, y_new]), data.x_val, data.y_val, seeds=[k],
                                   epochs=2, device="cpu", **options)[0].history]
        for k in (0, 1)
    ]  # fmt: skip
    assert np.allclose(both, np.mean(alone, axis=0))


# ---- the stage, local backend, and augment's tuned=true ---------------------------------------


def make_run(tmp_path: Path) -> Path:
    """A run with one complete ingest stage: 3 train and 2 val images per class, written without Ray."""
    rows = []
    for c in CLASSES:
        for k in range(5):
            split = "train" if k < 3 else "val"
            uri = save_png(draw_numeral(c, size=40, seed=k), tmp_path / "src" / split / c / f"{k}.png")
            rows.append({"id": manifest.row_id(str(uri)), "uri": str(uri), "label": c, "split": split})
    table = manifest.from_rows([{**r, "origin": manifest.ORIGINAL} for r in rows])
    run_dir = tmp_path / "run"
    Run(run_dir).execute("ingest", lambda _t, _c: StageOutput(table), needs_input=False)
    return run_dir


@pytest.mark.slow
def test_local_stage_records_every_trial_and_the_winner(tmp_path):
    run_dir = make_run(tmp_path)
    cfg = load(TuneConfig, preset="tiny", overrides={"backend": "local", "per_class": 2, "confirm_epochs": 1})
    report, ran = run_tune(str(run_dir), cfg)
    assert ran and report["n_train"] == 12 and report["n_val"] == 8
    assert [t["trial"] for t in report["trials"]] == [0, 1, 2]
    assert all(len(t["val_acc"]) == t["epochs_run"] >= 1 for t in report["trials"])
    assert set(report["best"]) <= {f.name for f in AugmentConfig.__dataclass_fields__.values()}
    assert sum(report["best"]["sources"].values()) == 2
    assert set(report["confirm"]["curves"]) == {"tuned", "baseline"}
    stage_dir = Run(run_dir).stage_dir("tune")
    assert stage_dir is not None
    trials = pq.read_table(stage_dir / "trials.parquet").to_pylist()
    assert [json.loads(t["params"]) for t in trials] == [t["params"] for t in report["trials"]]
    assert {t["status"] for t in trials} <= {"completed", "stopped"}
    assert Run(run_dir).manifest("tune").num_rows == Run(run_dir).manifest("ingest").num_rows
    html = render_section(run_dir, stage_dir, report)
    assert "<svg" in html and "trial 0" in html and "tuned: true" in html
    assert run_tune(str(run_dir), cfg)[1] is False  # unchanged: skipped


def reads_every_crop_right(table, *, classes):
    """A validity classifier factory for the test below (imported by name, so it logs its calls to a file)."""
    with open(os.environ["DCAI_TEST_FACTORY_LOG"], "a") as log:
        log.write(f"{table.num_rows}\n")
    return lambda batch: np.full((len(batch), len(classes)), 1.0 / len(classes)) + np.eye(len(classes))[0]


def test_tune_trains_the_classifier_once_when_the_space_searches_crops(tmp_path, monkeypatch):
    log = tmp_path / "factory.log"
    monkeypatch.setenv("DCAI_TEST_FACTORY_LOG", str(log))
    run_dir = make_run(tmp_path)
    cfg = load(
        TuneConfig,
        preset="tiny",
        overrides={"backend": "local", "per_class": 2, "confirm_epochs": 0, "trials": 2, "epochs": 1,
                   "space": {"sources.crop": [1.0, 1.0]},
                   "classifier": "tests.unit.test_tune:reads_every_crop_right"},
    )  # fmt: skip
    report, ran = run_tune(str(run_dir), cfg)
    assert ran and log.read_text().split() == [str(Run(run_dir).manifest("ingest").num_rows)]  # once
    assert report["best"]["sources"]["crop"] == 2


def fake_tune_stage(run_dir: Path, best: dict) -> None:
    table = Run(run_dir).manifest()
    Run(run_dir).execute("tune", lambda _t, _c: StageOutput(table, {"best": best}), force=True)


def test_augment_tuned_applies_the_tune_report_and_keys_on_it(tmp_path):
    run_dir = make_run(tmp_path)
    cfg = AugmentConfig(tuned=True, aspect=False, sources={"heavy": 0, "autoaugment": 0, "mirror": 0})
    with pytest.raises(ConfigError, match=f"{run_dir}.*no tune stage.*dcai tune --run"):
        run_augment(str(run_dir), cfg)
    best = {"sources": {"heavy": 0, "autoaugment": 0, "mirror": 0}, "autoaugment_prob_scale": 0.5}
    fake_tune_stage(run_dir, best)
    report, ran = run_augment(str(run_dir), cfg)  # nothing to make: no Ray needed
    assert ran and report["tuned_from"] == {"stage": "02-tune", "overrides": best}
    assert report["config"]["autoaugment_prob_scale"] == 0.5
    assert run_augment(str(run_dir), cfg)[1] is False
    fake_tune_stage(run_dir, {**best, "autoaugment_prob_scale": 0.7})
    report, ran = run_augment(str(run_dir), cfg)
    assert ran and report["tuned_from"]["overrides"]["autoaugment_prob_scale"] == 0.7


def test_apply_tuned_keeps_the_sources_tune_does_not_search(tmp_path):
    run_dir = make_run(tmp_path)
    fake_tune_stage(run_dir, {"sources": {"mirror": 7}, "heavy_options": {"lines": 0.1}})
    cfg = AugmentConfig(tuned=True, sources={"crop": 3, "mirror": 1}, heavy_options={"rotation": 0.02})
    tuned, applied = apply_tuned(str(run_dir), cfg)
    assert tuned.sources == {"crop": 3, "mirror": 7}
    assert tuned.heavy_options == {"rotation": 0.02, "lines": 0.1}
    assert applied is not None and applied["stage"] == "02-tune"
    assert apply_tuned(str(run_dir), cfg.replace(tuned=False)) == (cfg.replace(tuned=False), None)
