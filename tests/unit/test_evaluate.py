"""``dcai evaluate`` end to end on a few drawn numerals (local backend, tiny preset: no Ray)."""

from __future__ import annotations

import json

import pytest

from dcai import manifest
from dcai.cli import main
from dcai.evaluate.config import EvaluateConfig
from dcai.evaluate.pipeline import run
from dcai.runs import Run, StageOutput
from tests.helpers import make_good


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "data"
    make_good(root, split="train", per_class=4)
    make_good(root, split="val", per_class=2)
    make_good(root, split="label_book", per_class=1)
    test = tmp_path / "held_out"
    make_good(test, per_class=2)
    return root, test


def test_cli_data_reports_mean_std_per_seed_and_tests(folders, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DCAI_CACHE", str(tmp_path / "cache"))
    root, test = folders
    assert main(["evaluate", "--data", str(root), "--test", str(test), "--preset", "tiny", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert report["n_train"] == 12 and report["n_val"] == 6 and report["seeds"] == [0, 1]
    assert set(report["test"]) == {"label_book", "held_out"} and report["test"]["held_out"]["n"] == 6
    assert len(report["per_seed"]) == 2 and len(report["curves"]["val_acc"][0]) == 2
    assert 0.0 <= report["val_acc_mean"] <= 1.0 and "best val accuracy" in out
    assert list((tmp_path / "cache").glob("rgb32-*.npz"))


def test_cap_is_refused_with_exit_2(folders, capsys):
    root, _ = folders
    assert main(["evaluate", "--data", str(root), "--preset", "tiny", "--set", "max_images=16"]) == 2
    assert "12 train + 6 val = 18 images" in capsys.readouterr().err


def test_run_stage_keeps_manifest_and_is_skipped_when_unchanged(folders, tmp_path):
    root, _ = folders
    # The ingest stage runs on Ray Data; unit tests build its manifest by hand.
    rows = [
        {
            "id": manifest.row_id(str(p)),
            "uri": str(p),
            "label": p.parent.name,
            "split": p.parent.parent.name,
            "origin": "original",
        }
        for p in sorted(root.rglob("*.png"))
    ]
    r = Run(tmp_path / "run")
    r.execute("ingest", lambda _table, _ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)
    cfg = EvaluateConfig(seeds=1, epochs=1, device="cpu")
    report, ran = run(r.root, cfg)
    assert ran and report["stage"] == "evaluate" and report["test"]["label_book"]["n"] == 3
    assert r.stages()[-1][1] == "evaluate" and (r.root / "cache").is_dir()
    assert r.manifest("evaluate").equals(r.manifest("ingest"))
    _, ran_again = run(r.root, cfg)
    assert not ran_again
    from dcai.report.html import build

    assert "fixed-model accuracy" in build(r.root)
