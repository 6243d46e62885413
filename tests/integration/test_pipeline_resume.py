"""`dcai pipeline` end to end on tiny synthetic data: killed mid-stage, the run stays readable and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcai import manifest
from dcai.runs import Run

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
stages: [ingest, dedup, vote, clean, augment, balance, split, export, evaluate]
clean: {auto: true}  # 2-epoch vote models are unsure of everything: clean acts on little or nothing
"""
# over --preset tiny (a preset comes after the file's sections; --set after the preset)
SETS = [
    "augment.target_per_class=30",
    "augment.sources={autoaugment: 1, mirror: 1, heavy: 0, crop: 0, compose: 0}",
    "balance.budget=400",
    "split.n_folds=4",
    "evaluate.seeds=1",
    "evaluate.epochs=1",
]


def _env() -> dict[str, str]:
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)  # its own local Ray, not the test session's
    return env


def _pipeline(tmp_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "dcai", "pipeline", str(tmp_path / "tiny.yaml"),
        "--input", str(tmp_path / "synth" / "data"), "--output", str(tmp_path / "out"),
        "--preset", "tiny", *(a for kv in SETS for a in ("--set", kv)),
    ]  # fmt: skip


def _started(run: Path) -> dict[str, float]:
    return {name: Run(run).report(name)["started"] for _, name, _ in Run(run).stages()}


@pytest.mark.slow
def test_killed_pipeline_resumes_after_last_complete_stage(tmp_path: Path):
    subprocess.run(
        [sys.executable, "-m", "dcai", "synth", str(tmp_path / "synth"), "--preset", "tiny"],
        check=True, env=_env(), cwd=ROOT, capture_output=True,
    )  # fmt: skip
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    run = tmp_path / "out" / "run"

    # Kill the whole process group while vote trains (its temp folder exists, its output does not).
    proc = subprocess.Popen(
        _pipeline(tmp_path), env=_env(), cwd=ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not list(run.glob(".03-vote.*.tmp")):
        assert proc.poll() is None, "the pipeline ended before vote started"
        time.sleep(0.2)
    assert list(run.glob(".03-vote.*.tmp")), "vote never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    # The last complete stage is readable and valid; the killed one left no output, only its temp folder.
    done = Run(run).stages()
    assert [name for _, name, _ in done] == ["ingest", "dedup"]
    last = manifest.read(run / "02-dedup" / "manifest.parquet")
    manifest.validate(last)
    rows_in = Run(run).manifest("ingest").num_rows
    assert last.num_rows == rows_in
    before = _started(run)

    # Rerun the same command: the two complete stages are skipped, the rest run, the stale temp goes.
    out = subprocess.run(_pipeline(tmp_path), env=_env(), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after = _started(run)
    assert {k: after[k] for k in before} == before, "ingest and dedup must not run again"
    assert [n for _, n, _ in Run(run).stages()] == [
        "ingest", "dedup", "vote", "clean", "augment", "balance", "split", "export", "evaluate",
    ]  # fmt: skip
    assert not list(run.glob(".*.tmp"))
    final = Run(run).manifest()
    assert final.num_rows >= rows_in  # nothing deleted; augment only appends
    export = tmp_path / "out"
    assert (export / "train").is_dir() and (export / "val").is_dir()
    n_exported = sum(1 for _ in export.glob("train/*/*")) + sum(1 for _ in export.glob("val/*/*"))
    assert 0 < n_exported <= 400
    report = json.loads((run / f"{len(after):02d}-evaluate" / "report.json").read_text())
    assert report["n_train"] + report["n_val"] == n_exported
