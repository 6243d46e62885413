"""Submit ``ray_jobs/*.py`` to a real head with ``ray job submit`` (token authentication on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dcai import manifest
from tests.helpers import make_good

pytestmark = [pytest.mark.jobs, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def submit(env: dict, url: str, job: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        RAY,
        "job",
        "submit",
        "--address",
        url,
        "--",
        sys.executable,
        str(ROOT / "ray_jobs" / f"{job}.py"),
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_ingest_job_succeeds_and_writes_the_manifest(ray_head, tmp_path):
    env, url = ray_head
    make_good(tmp_path / "src", split="train")
    make_good(tmp_path / "src", split="val", per_class=1)
    run_dir = tmp_path / "run"
    done = submit(env, url, "ingest", str(tmp_path / "src"), "--run", str(run_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = next(line.split("'")[1] for line in done.stdout.splitlines() if "Job '" in line)
    status = subprocess.run(
        [RAY, "job", "status", "--address", url, job_id], env=env, capture_output=True, text=True
    )
    assert "succeeded" in (status.stdout + status.stderr).lower()
    table = manifest.read(run_dir / "01-ingest" / "manifest.parquet")
    assert table.num_rows == 12
    assert manifest.counts(table) == {"train": {"i": 3, "ii": 3, "v": 3}, "val": {"i": 1, "ii": 1, "v": 1}}


def test_submission_without_the_token_is_refused(ray_head):
    env, url = ray_head
    wrong = {**env, "RAY_AUTH_TOKEN": "0" * 64}
    wrong.pop("RAY_AUTH_TOKEN_PATH")
    refused = subprocess.run(
        [RAY, "job", "list", "--address", url], env=wrong, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
