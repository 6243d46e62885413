"""``make ray-up`` / ``make submit`` / ``make ray-down`` beside another Ray on the same machine: free ports
and an own temp dir, a job submitted to this checkout's head, and ray-down leaves the other one running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dcai import localray, manifest
from tests.helpers import make_good

pytestmark = [pytest.mark.jobs, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parents[1]


def make(target: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    """``make TARGET`` with this interpreter's venv, never reinstalling it."""
    cmd = ["make", "-s", "-C", str(ROOT), f"VENV={VENV}", "-o", f"{VENV}/.installed", target, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_local_head_coexists_with_another_ray(ray_head, tmp_path: Path):
    other_env, other_url = ray_head  # another Ray instance on this machine (its own temp dir and ports)
    other_temp = Path(other_env["RAY_AUTH_TOKEN_PATH"]).parent  # the fixture keeps its token in its temp dir
    assert localray.pids_under(str(other_temp))
    env = {**other_env, "DCAI_RAY_STATE": str(tmp_path / "state")}
    up = make("ray-up", env)
    assert up.returncode == 0, up.stdout + up.stderr
    head = json.loads((tmp_path / "state" / "head.json").read_text())
    assert head["dashboard"] != other_url and localray.pids_under(head["temp_dir"])
    try:
        make_good(tmp_path / "src", per_class=2)
        run = tmp_path / "run"
        sub = make("submit", env, "JOB=ingest", f"ARGS={tmp_path / 'src'} --run {run}")
        assert sub.returncode == 0, sub.stdout[-3000:] + sub.stderr[-3000:]
        assert "ray: the head at" in sub.stdout  # the job's first line: it joined the head, started none
        assert manifest.read(run / "01-ingest" / "manifest.parquet").num_rows == 6
    finally:
        down = make("ray-down", env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not localray.pids_under(head["temp_dir"])  # this checkout's head is gone
    assert localray.pids_under(str(other_temp))  # the other Ray still runs and answers
    alive = subprocess.run(
        [str(Path(sys.executable).parent / "ray"), "job", "list", "--address", other_url],
        env=other_env, capture_output=True, text=True,
    )  # fmt: skip
    assert alive.returncode == 0, alive.stderr
