"""``dcai gan`` on local Ray: the GAN on a Ray TorchTrainer (checkpoints, resume), the search as Ray Tune trials."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dcai import cli
from dcai.gan import pipeline, train
from dcai.gan.config import GanConfig
from dcai.gan.data import GanData
from dcai.gan.sample import Index
from dcai.runs import Run
from dcai.tune.trial import TrialData
from tests.helpers import draw_numeral
from tests.unit.test_gan import CLASSES, _classifier_state, make_run

pytestmark = pytest.mark.ray


def _data() -> GanData:
    x = np.stack([draw_numeral(c, size=32, seed=k) for c in CLASSES for k in range(3)]).astype(np.float32)
    x = np.repeat(x[..., None], 3, axis=-1)
    y = np.repeat(np.arange(len(CLASSES)), 3)
    trial = TrialData(list(CLASSES), list(x[..., 0].astype(np.uint8)), [str(i) for i in range(len(y))],
                      [CLASSES[k] for k in y], x, y, x[:4], y[:4])  # fmt: skip
    data = GanData(trial, Index.of([]))
    data.classifier_state = _classifier_state()
    return data


def test_the_gan_trains_on_a_torch_trainer_and_resumes_from_its_checkpoint(ray_local, tmp_path):
    cfg = GanConfig(checkpoint_every=1, gpus=0, device="cpu")
    data = _data()
    settings = train.Settings(iterations=2, batch_size=8, width=8, ramp=0.0)
    first = pipeline.ray_gan(data, settings, name="gan-resume", cfg=cfg, storage=str(tmp_path / "ray"))
    assert first["step"] == 2 and first["resumed"] == []
    # the same name trains on from the last checkpoint Ray Train kept, to the new iteration count
    longer = train.Settings(iterations=4, batch_size=8, width=8, ramp=0.0)
    second = pipeline.ray_gan(data, longer, name="gan-resume", cfg=cfg, storage=str(tmp_path / "ray"))
    assert second["step"] == 4 and second["resumed"] == [2]
    # ... and ends where four iterations in one go end (on a Ray worker too: the same CPU threads)
    straight = pipeline.ray_gan(data, longer, name="gan-straight", cfg=cfg, storage=str(tmp_path / "ray"))
    assert straight["resumed"] == [] and straight["history"][-1] == second["history"][-1]
    assert all(torch.equal(v, straight["generator"][k]) for k, v in second["generator"].items())


def test_the_search_runs_as_tune_trials_and_the_winner_writes_rows(ray_local, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = make_run(tmp_path)
    argv = ["gan", "--run", str(run_dir), "--preset", "tiny", "--set", "tuned=true", "--set", "min_gain=-1"]
    argv += ["--set", "validity=tests.unit.test_gan:reads_first_class", "--set", "gpus=0", "--json"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    found = report["search"]
    assert [t["trial"] for t in found["trials"]] == [0, 1]
    assert all(1 <= t["epochs_run"] <= 2 and len(t["gain"]) == t["epochs_run"] for t in found["trials"])
    assert report["added_total"] == found["best_params"]["images"] >= 1
    rows = [r for r in Run(run_dir).manifest("gan").to_pylist() if r["origin"] == "gan"]
    assert len(rows) == report["added_total"] and all(
        r["gan_gamma"] == found["best_params"]["gamma"] for r in rows
    )
    assert (tmp_path / "run" / "ray").is_dir()  # Ray Train and Tune kept their runs in the run
