"""`ray job submit -- python ray_jobs/vote.py` on tiny data: Tune trials on a real head, scores in the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dcai import manifest
from dcai.runs import Run, StageOutput
from tests.helpers import make_good
from tests.jobs.test_submit import submit

pytestmark = [pytest.mark.jobs, pytest.mark.slow]


def _ingested_run(tmp_path) -> Run:
    """A run whose first stage lists 24 small numerals (written directly: no ingest job needed)."""
    paths = make_good(tmp_path / "src", classes=("i", "ii", "v"), per_class=8, split="train")
    rows = [
        {"id": f"r{k}", "uri": str(p), "source_uri": str(p), "label": p.parent.name, "split": "train",
         "origin": "original"}
        for k, p in enumerate(paths)
    ]  # fmt: skip
    run = Run(tmp_path / "run")
    run.execute("ingest", lambda _, ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)
    return run


def test_vote_job_scores_every_image_out_of_fold(ray_head, tmp_path):
    env, url = ray_head
    run = _ingested_run(tmp_path)
    done = submit(
        env, url, "vote", "--run", str(run.root), "--preset", "tiny", "--members", "lenet5",
        "--set", "epochs=1", "--set", "folds_per_trial=1", "--set", "rounds=1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # `ray job submit` follows the job's log with its own status lines: the report is the last JSON line.
    report = json.loads(next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith('{"stage"')))
    # 1 member × 2 folds, one trial each, one round (rounds are tested in tests/integration/test_labels_ray.py)
    assert report["rows_voted"] == 24 and len(report["rounds"]) == 1 and len(report["trials"]) == 2
    table = run.manifest("vote")
    assert table.num_rows == 24
    assert all(v is not None for v in table.column("vote_top_prob").to_pylist())
    z = np.load(run.stage_dir("vote") / "probs.npz")
    assert z["probs"].shape == (1, 24, 3) and np.allclose(z["probs"].sum(-1), 1.0, atol=1e-4)
    assert sorted(set(z["folds"].tolist())) == [0, 1]
    assert (run.stage_dir("vote") / "queue.csv").exists()
