import os

import pyarrow as pa
import pytest

from dcai import manifest
from dcai.ingest import scan
from dcai.ingest.validate import validate_records
from tests.helpers import QUARANTINED, draw_numeral, make_bad_folder, make_good, save_png


def _validate(records, tmp_path):
    images = tmp_path / "images"
    return validate_records(
        records,
        images_dir=str(images),
        final_images_dir=str(images),
        max_pixels=50_000_000,
        trusted_splits=("label_book",),
    )


def test_every_bad_file_has_a_row_with_a_reason(tmp_path):
    src = tmp_path / "src"
    expected = make_bad_folder(src)
    records, layout = scan.scan(src)
    assert layout["layout"] == "class"
    table = _validate(records, tmp_path)
    assert (
        table.num_rows
        == len(records)
        == len(list(os.scandir(src / "i"))) * 2 + len(list(os.scandir(src / "ii")))
    )
    rows = {os.path.basename(r["source_uri"]): r for r in table.to_pylist()}
    for name, fragment in expected.items():
        row = rows[name]
        if name in QUARANTINED:
            assert row["split"] == "quarantine", name
            assert fragment in row["reason"] and row["reason"].startswith("ingest: "), (name, row["reason"])
        else:
            assert row["split"] == "train", (name, row["reason"])
            assert fragment in row["note"], (name, row["note"])
            assert row["uri"] != row["source_uri"] and os.path.exists(row["uri"])
    good = [r for n, r in rows.items() if n not in expected]
    assert all(r["split"] == "train" and r["note"] is None and r["uri"] == r["source_uri"] for r in good)


def test_exif_rotation_is_applied(tmp_path):
    src = tmp_path / "src"
    make_bad_folder(src)
    table = _validate(scan.scan(src)[0], tmp_path)
    row = next(r for r in table.to_pylist() if r["source_uri"].endswith("rotated.jpg"))
    assert (row["width"], row["height"]) == (40, 40)  # square, so check the pixels moved instead
    import numpy as np

    from dcai import imaging

    upright = imaging.load(row["uri"])
    assert not np.array_equal(upright, draw_numeral("ii"))


def test_split_class_layout_and_trusted_label_book(tmp_path):
    make_good(tmp_path, split="train")
    make_good(tmp_path, split="Validation", per_class=1)
    make_good(tmp_path, split="label_book", per_class=1)
    (tmp_path / "README.md").write_text("ignored")
    records, layout = scan.scan(tmp_path)
    assert layout["layout"] == "split/class" and layout["ignored_top_level_files"] == ["README.md"]
    table = _validate(records, tmp_path)
    counts = manifest.counts(table)
    assert sum(counts["train"].values()) == 9 and sum(counts["val"].values()) == 3
    trusted = [r["trusted"] for r in table.to_pylist() if r["split"] == "label_book"]
    assert trusted == [True] * 3


def test_csv_list_with_relative_paths(tmp_path):
    paths = make_good(tmp_path / "imgs", per_class=1)
    lines = ["uri,label,split"] + [f"imgs/{p.parent.name}/{p.name},{p.parent.name},val" for p in paths]
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    records, layout = scan.scan(tmp_path / "list.csv")
    assert layout["layout"] == "list" and all(r["source_split"] == "val" for r in records)
    assert all(os.path.isabs(r["uri"]) and os.path.exists(r["uri"]) for r in records)


def test_parquet_list_missing_column_is_a_clear_error(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"path": ["a.png"]}), tmp_path / "list.parquet")
    with pytest.raises(scan.SourceError, match=r"list.parquet.*missing \['uri', 'label'\]"):
        scan.scan(tmp_path / "list.parquet")


def test_unknown_classes_rejected(tmp_path):
    from dcai.ingest.ingest import check_classes

    make_good(tmp_path)
    records, _ = scan.scan(tmp_path)
    with pytest.raises(scan.SourceError, match=r"\['v'\] are not in --classes"):
        check_classes(records, ("i", "ii"), str(tmp_path))


def test_missing_source_names_the_path(tmp_path):
    with pytest.raises(scan.SourceError, match="nowhere: no such file"):
        scan.scan(tmp_path / "nowhere")
    save_png(draw_numeral("i"), tmp_path / "flat.png")
    with pytest.raises(scan.SourceError, match="no class folders"):
        scan.scan(tmp_path)


def test_ingest_body_without_ray_keeps_scan_order_and_quarantines(tmp_path):
    """The stage body with the validation run in this process: one row per file, broken ones quarantined."""
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.ingest import ingest
    from dcai.runs import Run

    make_good(tmp_path / "src")
    make_bad_folder(tmp_path / "src")
    records, layout = scan.scan(tmp_path / "src")
    _, report, _ = Run(tmp_path / "run").execute(
        "ingest", lambda _t, ctx: ingest(records, layout, IngestConfig(), ctx), needs_input=False
    )
    table = Run(tmp_path / "run").manifest("ingest")
    assert table.column("source_uri").to_pylist() == [r["uri"] for r in records]
    assert report["files_found"] == len(records) and report["quarantined"] >= 1


def test_uri_scan_finds_the_same_records_as_the_local_walk(tmp_path):
    """The object-store listing (one recursive listing, layout from the keys) agrees with the folder walk;
    a ``file://`` URI drives it through pyarrow.fs here, the same code as for ``s3://``."""
    from dcai.storage import UriPath

    for split, n in (("train", 3), ("validation", 1)):
        make_good(tmp_path / "nested", split=split, per_class=n)
    make_good(tmp_path / "flat", per_class=2)
    (tmp_path / "flat" / ".hidden").mkdir()
    (tmp_path / "flat" / ".hidden" / "x.png").write_bytes(b"x")
    (tmp_path / "flat" / "notes.txt").write_text("loose")
    for name in ("nested", "flat"):
        local, layout = scan.scan(tmp_path / name)
        remote, rlayout = scan._scan_uri(UriPath(f"file://{tmp_path / name}"))
        assert rlayout["layout"] == layout["layout"]
        assert rlayout["ignored_top_level_files"] == layout["ignored_top_level_files"]
        key = lambda r: (r["uri"].removeprefix("file://"), r["label"], r["source_split"])  # noqa: E731
        assert sorted(map(key, remote)) == sorted(map(key, local))
        assert all(r["size"] > 0 for r in remote)
    with pytest.raises(scan.SourceError, match="no such folder"):
        scan._scan_uri(UriPath(f"file://{tmp_path / 'absent'}"))


def test_special_files_and_odd_uris_are_quarantined_each_with_its_reason(tmp_path):
    import socket

    fifo, sock = tmp_path / "pipe.png", tmp_path / "sock.png"
    os.mkfifo(fifo)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    secret = tmp_path / "passwd.png"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    uris = {
        str(fifo): "a FIFO (named pipe), not a regular file",
        str(sock): "a socket, not a regular file",
        "/dev/null": "a character device, not a regular file",
        "http://example.invalid/a.png": "unsupported URI scheme 'http'",
        "nosuch://bucket/a.png": "unsupported URI scheme 'nosuch'",
        str(secret): "not an image: no known image format (text, 32 bytes)",
    }
    try:
        rows = _validate([{"uri": u, "label": "i", "source_split": "train"} for u in uris], tmp_path)
    finally:
        s.close()
    reasons = dict(zip(rows.column("source_uri").to_pylist(), rows.column("reason").to_pylist()))
    for u, fragment in uris.items():
        assert fragment in reasons[u]
    assert not any("root" in r for r in reasons.values())  # a reason never quotes a file's contents


def test_a_reason_never_quotes_bytes_a_decoder_put_in_its_message():
    from dcai.ingest.validate import redact

    said = 'undecodable TIFF: not a TIFF file (header b\'root:x:0\' not valid), also b"x\\"y"'
    assert redact(said) == "undecodable TIFF: not a TIFF file (header <bytes> not valid), also <bytes>"
