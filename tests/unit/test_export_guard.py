"""Export touches only what dcai wrote: an empty or new folder, or an earlier export's listed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcai.export import guard
from dcai.export.config import ExportConfig
from dcai.export.export import export
from dcai.runs import Run
from tests.helpers import make_good, make_ingested_run, tree_hashes


@pytest.fixture
def run(tmp_path: Path) -> Run:
    make_good(tmp_path / "src", per_class=3)
    return Run(make_ingested_run(tmp_path / "run", tmp_path / "src"))


def _export(run: Run, out: Path, **kw):
    return export(run.manifest(), ExportConfig(), out, run_root=run.root, **kw)


def test_export_into_a_new_folder_marks_it_and_lists_its_files(run: Run, tmp_path: Path):
    out = tmp_path / "out"
    _export(run, out)
    marker = guard.read_marker(out)
    assert marker is not None and len(marker["files"]) == 9 + 2
    assert all((out / f).is_file() for f in marker["files"])


def test_export_refuses_the_source_folder_and_leaves_every_file(run: Run, tmp_path: Path):
    src = tmp_path / "src"
    before = tree_hashes(src)
    for out in (src, tmp_path):  # the source itself, and a folder that holds it
        with pytest.raises(guard.OutputError, match="source images|not empty"):
            _export(run, out)
    assert tree_hashes(src) == before


def test_export_refuses_a_folder_inside_the_input(run: Run, tmp_path: Path):
    with pytest.raises(guard.OutputError, match="overlaps the input"):
        _export(run, tmp_path / "src" / "exported", inputs=(str(tmp_path / "src"),))
    assert not (tmp_path / "src" / "exported").exists()


def test_export_refuses_a_folder_of_someone_elses_files(run: Run, tmp_path: Path):
    out = tmp_path / "mine"
    (out / "train").mkdir(parents=True)
    (out / "train" / "notes.txt").write_text("keep me")
    with pytest.raises(guard.OutputError, match="not empty .* no .dcai-export.json"):
        _export(run, out)
    assert (out / "train" / "notes.txt").read_text() == "keep me"


def test_reexport_replaces_only_its_own_files(run: Run, tmp_path: Path):
    out = tmp_path / "out"
    _export(run, out)
    first = guard.read_marker(out)["files"]
    stray = out / "train" / "i" / "added-by-hand.png"
    stray.write_bytes(b"mine")
    _export(run, out, copy=lambda rows: 0)  # nothing copied: what remains is what was not dcai's
    assert stray.read_bytes() == b"mine"
    assert not any((out / f).exists() for f in first if f.startswith(("train/", "val/")))


def test_a_run_inside_the_output_is_not_someone_elses_file(tmp_path: Path):
    make_good(tmp_path / "src", per_class=2)
    run = Run(make_ingested_run(tmp_path / "out" / "run", tmp_path / "src"))
    _export(run, tmp_path / "out")
    assert guard.read_marker(tmp_path / "out") is not None


def test_a_marker_cannot_reach_outside_the_export(tmp_path: Path):
    with pytest.raises(guard.OutputError, match="outside the export"):
        guard.remove_previous(tmp_path, ["../victim.txt"])


def test_an_export_missing_a_class_or_a_split_says_so(run: Run, tmp_path: Path):
    from dcai import manifest
    from dcai.export.cli import summary

    table = run.manifest()
    gone = manifest.column(table, "label") == "v"
    table = manifest.set_split(table, gone, manifest.REMOVED, reason="test: every v removed")
    val = manifest.column(table, "split") == "val"
    table = manifest.set_split(table, val, manifest.SURPLUS, reason="test: no val")
    report = export(table, ExportConfig(), tmp_path / "out", run_root=run.root).metrics
    assert report["warnings"] == [
        "1 class(es) have no train image: v",
        "split 'val' is empty: no image exported to val/",
    ]
    assert "WARNING: export: 1 class(es) have no train image: v" in summary(report)


def test_the_html_report_shows_the_warnings_first(run: Run, tmp_path: Path):
    from dcai.report.html import build
    from dcai.runs import StageOutput

    run.execute("export", lambda t, ctx: StageOutput(t, {"warnings": ["split 'val' is empty"]}))
    html = build(run.root)
    assert "<h2>Warnings</h2>" in html and "split &#x27;val&#x27; is empty" in html
    assert html.index("Warnings") < html.index("<h2>Stages</h2>")
