"""``dcai tune`` on local Ray: a tiny synth run, Ray Tune trials under ASHA, then augment with tuned=true."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dcai import cli
from dcai.ingest.config import IngestConfig
from dcai.ingest.pipeline import run as run_ingest
from dcai.runs import Run
from dcai.synth.config import SynthConfig
from dcai.synth.pipeline import run as run_synth
from dcai.tune.report_section import render_section

pytestmark = pytest.mark.ray


def test_tune_trials_on_ray_then_augment_uses_the_winner(ray_local, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_synth(tmp_path / "synth", SynthConfig(n=40, test_n=0, chunk_size=50), use_ray=False)
    run_dir = str(tmp_path / "run")
    run_ingest(run_dir, IngestConfig(), source=str(tmp_path / "synth" / "data"))
    argv = ["tune", "--run", run_dir, "--preset", "tiny", "--set", "trials=3", "--set", "train_subset=30"]
    argv += ["--set", "confirm_epochs=0", "--json"]  # the confirmation's own Tune run: see the unit tests
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["backend"] == "tune" and report["n_train"] <= 30
    assert [t["trial"] for t in report["trials"]] == [0, 1, 2]
    assert all(1 <= t["epochs_run"] <= 2 and len(t["val_acc"]) == t["epochs_run"] for t in report["trials"])
    assert "confirm" not in report
    stage_dir = Run(run_dir).stage_dir("tune")
    assert stage_dir is not None
    assert pq.read_table(stage_dir / "trials.parquet").num_rows == 3
    assert "<svg" in render_section(Path(run_dir), stage_dir, report)

    # augment picks the winner up and makes its images through Ray Data
    best = report["best"]
    assert (
        cli.main(["augment", "--run", run_dir, "--set", "tuned=true", "--set", "aspect=false", "--json"]) == 0
    )
    augment = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert augment["tuned_from"]["overrides"] == best
    added = {s: sum(v.values()) for s, v in augment["added"].items()}
    # the default space searches affine copies and elastic warps; every other source gets none
    assert added and set(added) <= {"affine", "elastic"}
    assert all(n <= best["sources"][s] * len(augment["classes"]) for s, n in added.items())
