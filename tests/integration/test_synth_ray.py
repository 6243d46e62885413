"""``dcai synth`` through Ray Data, then ``dcai ingest`` of what it wrote: every file a row, none quarantined."""

from __future__ import annotations

import csv
import json

from dcai import cli
from dcai.synth.config import SynthConfig
from dcai.synth.pipeline import run


def test_synth_then_ingest(ray_local, tmp_path, capsys):
    out, run_dir = tmp_path / "synth", tmp_path / "run"
    assert (
        cli.main(["synth", str(out), "--n", "200", "--set", "test_n=40", "--set", "chunk_size=64", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with open(out / "truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    data_files = sorted(p for p in (out / "data").rglob("*") if p.is_file())
    assert report["images"] == len(truth) == len(data_files) + 40 and report["ray"]

    assert cli.main(["ingest", str(out / "data"), "--run", str(run_dir), "--json"]) == 0
    ingest = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ingest["rows"] == ingest["files_found"] == len(data_files)
    assert ingest["quarantined"] == 0
    assert set(ingest["counts"]) == {"train", "val", "label_book"}


def test_ray_and_local_write_the_same_bytes(ray_local, tmp_path):
    cfg = SynthConfig(n=120, test_n=20, chunk_size=50)
    run(tmp_path / "ray", cfg)
    run(tmp_path / "local", cfg, use_ray=False)
    files = {p.relative_to(tmp_path / "ray"): p.read_bytes() for p in (tmp_path / "ray").rglob("*.*")}
    assert len(files) > 150
    for rel, data in files.items():
        if rel.name != "synth.json":
            assert (tmp_path / "local" / rel).read_bytes() == data, rel
