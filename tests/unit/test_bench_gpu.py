"""bench/gpu.py: the one GPU script runs every part at toy size on the CPU, with no Ray on its path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_run_writes_every_part_without_ray(tmp_path):
    out = tmp_path / "gpu"
    code = (
        "import runpy, sys; sys.argv = ['bench.gpu', 'run', '--tiny', '--out', sys.argv[1], '--data', sys.argv[2]];"
        "runpy.run_module('bench.gpu', run_name='__main__');"
        "assert 'ray' not in sys.modules, 'bench.gpu imported ray'"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(out), str(tmp_path / "no-archive.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    parts = {f.stem: json.loads(f.read_text()) for f in out.glob("*.json")}
    assert set(parts) == {"env", "speed", "gan", "outcome", "vote"}
    assert not any("error" in v for v in parts.values()), parts
    assert [r["k"] for r in parts["speed"]["rows"]] == [1, 2]
    assert parts["gan"]["iterations"] >= 5 and parts["gan"]["it_s"] > 0
    assert set(parts["outcome"]["datasets"]) == {"raw", "naive"}
    assert parts["outcome"]["datasets"]["raw"]["paired_vs_naive"]
    assert [m["member"] for m in parts["vote"]["members"]] == ["lenet5", "allconv"]
    assert all(0.0 <= m["oof_acc"] <= 1.0 for m in parts["vote"]["members"])
