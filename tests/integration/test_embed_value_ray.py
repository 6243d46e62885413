"""embed and value in a tiny ``dcai pipeline`` on local Ray: fitted by Ray Train, read by clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcai import manifest
from dcai.runs import Run

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
stages: [ingest, vote, embed, value, clean]
vote: {members: [lenet5], rounds: 1}
embed: {epochs: 3}
value: {epochs: 3}
clean: {auto: true}
"""


def test_embed_and_value_run_in_a_pipeline_on_ray_train_and_feed_clean(tmp_path: Path):
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)  # the pipeline's own local Ray: the vote starts it, embed and value join it
    synth = subprocess.run([sys.executable, "-m", "dcai", "synth", str(tmp_path / "synth"), "--n", "80"],
                           env=env, cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert synth.returncode == 0, synth.stderr[-2000:]
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    out = subprocess.run(
        [sys.executable, "-m", "dcai", "pipeline", str(tmp_path / "tiny.yaml"), "--input",
         str(tmp_path / "synth" / "data"), "--output", str(tmp_path / "out"), "--preset", "tiny"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = Run(next(p.parent for p in (tmp_path / "out").rglob("01-ingest")))
    embed, value = run.report("embed"), run.report("value")
    assert embed["engine"] == "ray-train" and value["engine"] == "ray-train"
    t = run.manifest("clean")
    n = embed["rows_embedded"]
    assert value["rows_valued"] == n and value["validation_rows"] > 0
    for col in (
        "embed_top_label",
        "embed_given_prob",
        "embed_isolation",
        "value_influence",
        "value_harmful",
    ):
        assert sum(v is not None for v in t.column(col).to_pylist()) == n, col
    with np.load(run.stage_dir("embed") / "vectors.npz") as z:
        assert z["vectors"].shape == (n, 8)
    clean = run.report("clean")
    assert {"embed_given_prob", "knn_prob_of_vote_top", "value_harmful"} <= set(clean["evidence"])
    acted = [
        w for a, w in zip(manifest.column(t, "clean_action"), manifest.column(t, "clean_why")) if a != "keep"
    ]
    assert all(w and "neighbours:" in w for w in acted)
    assert json.loads((run.stage_dir("clean") / "report.json").read_text())["stage"] == "clean"
