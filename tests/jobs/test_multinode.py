"""The vote on a real three-node Ray cluster on this machine (head + two workers, one CPU each, token
auth), sent with ``ray job submit``: its training ran on several nodes, and a worker node removed in the
middle of the vote still leaves a complete stage with the same scores as an undisturbed one."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from dcai import manifest
from dcai.runs import Run, StageOutput
from tests import local_cluster
from tests.helpers import make_good

pytestmark = [pytest.mark.jobs, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
# two members × two folds, one fold per trial: four fits for three one-CPU nodes
VOTE = ["--preset", "tiny", "--members", "lenet5,allconv", "--set", "folds_per_trial=1",
        "--set", "rounds=1", "--set", "epochs=6"]  # fmt: skip
TRAIN_WORKER = "RayTrainWorker"


@pytest.fixture(scope="module")
def cluster():
    c = local_cluster.start(Path(tempfile.mkdtemp(prefix="dcaic-", dir="/tmp")), workers=2)
    try:
        yield c
    finally:
        c.stop()


def _run(tmp: Path) -> Run:
    paths = make_good(tmp / "src", classes=("i", "ii", "v"), per_class=10, split="train")
    rows = [
        {"id": f"r{k}", "uri": str(p), "source_uri": str(p), "label": p.parent.name, "split": "train",
         "origin": "original"}
        for k, p in enumerate(paths)
    ]  # fmt: skip
    run = Run(tmp / "run")
    run.execute("ingest", lambda _, ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)
    return run


def _submit(c: local_cluster.LocalCluster, run: Run) -> str:
    """Sends the vote job without waiting; its submission id."""
    cmd = [RAY, "job", "submit", "--address", c.dashboard, "--no-wait", "--working-dir", str(ROOT),
           "--", sys.executable, "ray_jobs/vote.py", "--run", str(run.root), *VOTE]  # fmt: skip
    done = subprocess.run(cmd, env=c.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(ln.split("'")[1] for ln in done.stdout.splitlines() if "Job '" in ln)


def _wait(c: local_cluster.LocalCluster, job: str, timeout: float = 900) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = c.job_status(job)
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(2)
    raise TimeoutError(f"job {job} still running after {timeout} s")


def _logs(c: local_cluster.LocalCluster, job: str) -> str:
    return subprocess.run([RAY, "job", "logs", "--address", c.dashboard, job], env=c.env,
                          capture_output=True, text=True).stdout  # fmt: skip


def _train_workers(c: local_cluster.LocalCluster, job: str) -> list[dict]:
    """Every Ray Train worker actor the job started (alive or dead), with its node."""
    return [a for a in c.state("actors", f"class_name={TRAIN_WORKER}") if a.get("job_id") == _job_hex(c, job)]


def _job_hex(c: local_cluster.LocalCluster, submission_id: str) -> str:
    jobs = c.state("jobs")
    return next(j["job_id"] for j in jobs if j.get("submission_id") == submission_id)


@pytest.fixture(scope="module")
def undisturbed(cluster, tmp_path_factory):
    run = _run(tmp_path_factory.mktemp("undisturbed"))
    job = _submit(cluster, run)
    assert _wait(cluster, job) == "SUCCEEDED", _logs(cluster, job)[-4000:]
    return run, job


def test_vote_training_ran_on_several_nodes(cluster, undisturbed):
    _, job = undisturbed
    nodes = {a["node_id"] for a in _train_workers(cluster, job)}
    assert len(nodes) >= 2, nodes
    assert nodes <= set(cluster.node_ids().values())


def test_a_worker_node_removed_mid_vote_still_ends_complete_and_correct(cluster, undisturbed, tmp_path):
    run = _run(tmp_path)
    job = _submit(cluster, run)
    w2 = cluster.node_ids()["w2"]
    deadline = time.time() + 600
    while not any(a["node_id"] == w2 and a["state"] == "ALIVE" for a in _train_workers(cluster, job)):
        assert time.time() < deadline, "no training worker was ever placed on w2"
        time.sleep(0.5)
    cluster.remove_node("w2")  # a worker is training there now: its machine goes away
    assert _wait(cluster, job) == "SUCCEEDED", _logs(cluster, job)[-4000:]
    assert "w2" not in cluster.node_ids()
    workers = _train_workers(cluster, job)
    assert any(a["node_id"] == w2 for a in workers)  # it did train there before the node went
    assert any(a["node_id"] != w2 and a["state"] == "ALIVE" or a["node_id"] != w2 for a in workers)
    report = run.report("vote")
    assert report["rows_voted"] == 30 and len(report["trials"]) == 4
    table = run.manifest("vote")
    assert all(v is not None for v in table.column("vote_top_prob").to_pylist())
    # the same scores as the undisturbed vote: every fit resumed from its last epoch, none restarted
    ref = np.load(undisturbed[0].stage_dir("vote") / "probs.npz")["probs"]
    got = np.load(run.stage_dir("vote") / "probs.npz")["probs"]
    assert got.shape == ref.shape == (2, 30, 3)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert json.dumps(report["trials"], sort_keys=True).count('"member"') == 4
