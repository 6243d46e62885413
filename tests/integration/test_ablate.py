"""`dcai pipeline --ablate` on tiny synthetic data: a variant per data stage, shared stages reused, a table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcai.ablate import variants
from dcai.runs import Run

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "stages: [ingest, dedup, augment, balance, export, evaluate]\n"
# over --preset tiny (a preset comes after the file's sections; --set after the preset)
SETS = [
    "augment.target_per_class=20",
    "augment.sources={affine: 1, autoaugment: 0, mirror: 0, heavy: 0, crop: 0, compose: 0}",
    "balance.budget=300",
    "evaluate.seeds=2",
    "evaluate.epochs=1",
]


def test_variants_leave_out_one_data_stage_each():
    stages = ["ingest", "dedup", "vote", "clean", "augment", "export", "evaluate_raw", "evaluate"]
    v = variants(stages)
    assert sorted(v) == ["no_augment", "no_clean", "no_dedup", "no_vote"]
    assert v["no_vote"] == ["ingest", "dedup", "clean", "augment", "export", "evaluate"]


@pytest.mark.slow
def test_ablate_runs_each_variant_and_reports_what_each_stage_added(tmp_path: Path):
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    subprocess.run([sys.executable, "-m", "dcai", "synth", str(tmp_path / "synth"), "--preset", "tiny"],
                   check=True, env=env, cwd=ROOT, capture_output=True)  # fmt: skip
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    out = subprocess.run(
        [sys.executable, "-m", "dcai", "pipeline", str(tmp_path / "tiny.yaml"), "--input",
         str(tmp_path / "synth" / "data"), "--output", str(tmp_path / "out"), "--test",
         str(tmp_path / "synth" / "test"), "--preset", "tiny", "--ablate",
         *(a for kv in SETS for a in ("--set", kv))],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "what each stage added" in out.stdout
    report = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert set(report["variants"]) == {"full", "no_dedup", "no_augment", "no_balance"}
    rows = [r for r in report["rows"] if r["test"] == "test"]
    assert {r["variant"] for r in rows} == {"full", "no_dedup", "no_augment", "no_balance"}
    for r in rows:
        assert len(r["per_seed"]) == 2 and (r["variant"] == "full") == (r.get("stage_added") is None)
    # a variant starts from the full run's folders before the stage it leaves out: they were not rerun
    full = Run(tmp_path / "out" / "run")
    no_augment = Run(tmp_path / "out" / "ablate" / "no_augment" / "run")
    assert [n for _, n, _ in no_augment.stages()] == ["ingest", "dedup", "balance", "export", "evaluate"]
    for name in ("ingest", "dedup"):
        assert no_augment.report(name)["started"] == full.report(name)["started"]
    assert report["reused"]["no_augment"] == ["ingest", "dedup"] and report["reused"]["no_dedup"] == [
        "ingest"
    ]
    assert "What each stage added" in (full.root / "report.html").read_text()
