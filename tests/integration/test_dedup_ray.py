"""The dedup stage on local Ray: exact and near copies across splits, rows kept, incremental --against."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench import planted
from dcai import manifest
from dcai.cli import main as cli_main
from dcai.config import load
from dcai.dedup.config import DedupConfig
from dcai.dedup.pipeline import run
from dcai.dedup.stored import SIGNATURES
from dcai.ingest.config import IngestConfig
from dcai.ingest.pipeline import run as ingest

pytestmark = pytest.mark.ray


def _write(path, pixels, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(planted.encode(pixels, fmt))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("dedup")
    src = root / "src"
    rng = np.random.default_rng(7)
    glyphs = [planted.glyph(rng, strokes=int(k)) for k in rng.integers(2, 4, 10)]
    for i, g in enumerate(glyphs):
        _write(src / ("train" if i % 2 else "val") / "v" / f"g{i}.png", g)
    (src / "val" / "v" / "copy0.png").write_bytes((src / "val" / "v" / "g0.png").read_bytes())  # byte copy
    _write(src / "val" / "v" / "near1.jpg", planted.transform(glyphs[1], "jpeg", rng)[0], "JPEG")  # near copy
    _write(src / "label_book" / "v" / "book2.png", glyphs[2])  # the trusted copy stays
    _write(src / "train" / "x" / "conflict3.png", glyphs[3])  # same pixels, other label: review
    rundir = root / "run"
    ingest(str(rundir), IngestConfig(), source=str(src))
    cfg = load(DedupConfig, preset="tiny")
    report, _ = run(rundir, cfg)
    return root, rundir, report, glyphs


def test_exact_near_conflict_and_nothing_deleted(first_run):
    _, rundir, report, _ = first_run
    before = manifest.read(next(rundir.glob("01-*")) / "manifest.parquet")
    stage = next(rundir.glob("02-dedup"))
    after = manifest.read(stage / "manifest.parquet")
    assert after.num_rows == before.num_rows
    rows = {r["source_uri"].rsplit("/", 1)[-1]: r for r in after.to_pylist()}
    # g0 and copy0 tie on split and size, so the id (a hash of the temporary path) picks the keeper
    pair = [rows["g0.png"], rows["copy0.png"]]
    assert {r["dup_kind"] for r in pair} == {"exact_bytes"} and sorted(r["split"] for r in pair) == [
        "removed",
        "val",
    ]
    gone, kept = sorted(pair, key=lambda r: r["split"] != "removed")
    assert gone["reason"] == f"dedup: duplicate of {kept['id']}"
    assert (
        rows["near1.jpg"]["dup_kind"] == "near"
        and rows["near1.jpg"]["dup_group"] == rows["g1.png"]["dup_group"]
    )
    assert rows["book2.png"]["split"] == "label_book" and rows["g2.png"]["split"] == "removed"
    assert rows["conflict3.png"]["dup_conflict"] and rows["g3.png"]["split"] == "train"
    assert "different labels" in rows["conflict3.png"]["review"]
    assert report["leakage"]["groups"] >= 2 and (stage / SIGNATURES).is_dir()
    # no false group: every distinct glyph without a planted copy is alone
    assert all(rows[f"g{i}.png"]["dup_group"] is None for i in range(4, 10))


def test_incremental_against_an_earlier_run(first_run, tmp_path, capsys):
    root, rundir, _, glyphs = first_run
    src = tmp_path / "new"
    _write(
        src / "train" / "v" / "again5.png", planted.transform(glyphs[5], "shift", np.random.default_rng(1))[0]
    )
    _write(src / "train" / "v" / "fresh.png", planted.glyph(np.random.default_rng(99), strokes=3))
    new_run = tmp_path / "run2"
    ingest(str(new_run), IngestConfig(), source=str(src))
    assert (
        cli_main(["dedup", "--run", str(new_run), "--against", str(rundir), "--preset", "tiny", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["against_images"] == 14
    rows = {
        r["source_uri"].rsplit("/", 1)[-1]: r
        for r in manifest.read(new_run / "02-dedup" / "manifest.parquet").to_pylist()
    }
    old_ids = {r["id"] for r in manifest.read(rundir / "02-dedup" / "manifest.parquet").to_pylist()}
    assert rows["again5.png"]["split"] == "removed" and rows["again5.png"]["dup_of"] in old_ids
    assert rows["fresh.png"]["split"] == "train" and rows["fresh.png"]["dup_group"] is None


def test_join_path_decides_as_the_broadcast_path(first_run, tmp_path):
    """Past ``broadcast_bytes`` candidates travel through the two-shuffle join: same pairs, same decisions."""
    import shutil

    _, rundir, report, _ = first_run
    assert "candidates+verify" in report["timings"]  # the small set was verified in the reducers
    copy = tmp_path / "run"
    shutil.copytree(rundir, copy)
    cfg = dataclasses.replace(load(DedupConfig, preset="tiny"), broadcast_bytes=0)
    joined, _ = run(copy, cfg, force=True)
    assert "verify" in joined["timings"] and joined["verified_pairs"] == report["verified_pairs"]
    cols = ["id", "split", "dup_group", "dup_kind", "dup_of", "reason"]
    a = manifest.read(rundir / "02-dedup" / "manifest.parquet").select(cols).sort_by("id")
    b = manifest.read(copy / "02-dedup" / "manifest.parquet").select(cols).sort_by("id")
    assert a.equals(b) and a.num_rows == 14


def test_pixel_check_reads_kept_files_and_names_a_file_it_cannot_re_read(first_run, tmp_path):
    """Near pairs are checked from the files the sketches kept, even an old run's whose file is gone;
    without them (``pixel_inline_bytes=0``) the files are re-read and a missing one is named."""
    from dcai.imaging import BadImage

    _, rundir, report, glyphs = first_run
    assert report["pixel_checked"] >= 1 and "pixels" in report["timings"]
    assert report["near_transforms"].get("identity", 0) >= 1  # near1.jpg: a JPEG re-encode of g1
    old = tmp_path / "old"
    _write(old / "train" / "v" / "g.png", glyphs[6])
    old_run = tmp_path / "old_run"
    ingest(str(old_run), IngestConfig(), source=str(old))
    run(old_run, load(DedupConfig, preset="tiny"))
    (uri,) = [r["uri"] for r in manifest.read(old_run / "02-dedup" / "manifest.parquet").to_pylist()]
    new = tmp_path / "new"
    _write(
        new / "train" / "v" / "moved.png", planted.transform(glyphs[6], "shift", np.random.default_rng(3))[0]
    )
    new_run = tmp_path / "new_run"
    ingest(str(new_run), IngestConfig(), source=str(new))
    Path(uri).unlink()
    kept, _ = run(new_run, load(DedupConfig, preset="tiny"), against=old_run)
    assert kept["pixel_images"] == {"stored": 2, "re_read": 0}
    assert kept["near_transforms"] == {"shift": 1} and kept["removed"] == 1
    with pytest.raises(BadImage, match=Path(uri).name):
        run(
            new_run,
            dataclasses.replace(load(DedupConfig, preset="tiny"), pixel_inline_bytes=0),
            against=old_run,
            force=True,
        )
