"""ingest through the CLI on a local Ray: planted bad files, the real competition data, exports."""

import json
import os

from dcai import manifest
from dcai.cli import main
from dcai.runs import Run
from tests.helpers import QUARANTINED, make_bad_folder


def test_bad_folder_every_file_has_a_row(ray_local, tmp_path, capsys):
    expected = make_bad_folder(tmp_path / "src")
    found = sum(
        len(files) + len([d for d in dirs if os.path.islink(os.path.join(r, d))])
        for r, dirs, files in os.walk(tmp_path / "src")
    )
    assert main(["ingest", str(tmp_path / "src"), "--run", str(tmp_path / "run"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows"] == report["files_found"] == found
    reasons = {os.path.basename(q["uri"]): q["reason"] for q in report["quarantine"]}
    assert set(reasons) == QUARANTINED
    for name in QUARANTINED:
        assert expected[name] in reasons[name]
    assert report["converted"] == len(expected) - len(QUARANTINED)


def test_real_competition_data(ray_local, roman, tmp_path, capsys):
    assert main(["ingest", str(roman), "--run", str(tmp_path / "run"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows"] == 2932 and report["quarantined"] == 0
    totals = {s: sum(c.values()) for s, c in report["counts"].items()}
    assert totals == {"train": 2067, "val": 813, "label_book": 52}


def test_rerun_is_skipped_and_export_report_work(ray_local, tmp_path, capsys):
    from tests.helpers import make_good

    make_good(tmp_path / "src", split="train", per_class=4)
    make_good(tmp_path / "src", split="val", per_class=2)
    run = str(tmp_path / "run")
    assert main(["ingest", str(tmp_path / "src"), "--run", run]) == 0
    assert main(["ingest", str(tmp_path / "src"), "--run", run]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["export", "--run", run, "--out", str(tmp_path / "out"), "--max-images", "10"]) == 2
    assert "18 train+val images exceed the cap of 10" in capsys.readouterr().err
    assert main(["export", "--run", run, "--out", str(tmp_path / "out"), "--max-images", "10", "--trim"]) == 0
    files = [f for f in (tmp_path / "out").rglob("*.png")]
    assert len(files) == 10
    exported = manifest.read(tmp_path / "out" / "manifest.parquet")
    assert exported.num_rows == 18  # trimmed rows are still there, as surplus
    # largest class first, so the 8 trimmed rows spread evenly and val is untouched
    assert manifest.counts(exported)["surplus"] == {"v": 3, "ii": 3, "i": 2}
    assert manifest.counts(exported)["val"] == {"i": 2, "ii": 2, "v": 2}
    assert main(["report", "--run", run]) == 0
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Counts per split and class" in html and "<svg" in html and "export" in html
    assert [n for _, n, _ in Run(run).stages()] == ["ingest", "export"]


def test_bad_input_exit_code(ray_local, tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing"), "--run", str(tmp_path / "run")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
