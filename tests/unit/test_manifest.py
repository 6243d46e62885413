import numpy as np
import pyarrow as pa
import pytest

from dcai import manifest
from dcai.manifest import ManifestError


def _table(n=4):
    return manifest.from_rows(
        {
            "id": f"id{i}",
            "uri": f"/x/{i}.png",
            "label": "i" if i % 2 else "ii",
            "split": "train",
            "origin": "original",
        }
        for i in range(n)
    )


def test_roundtrip_and_schema(tmp_path):
    t = manifest.with_column(_table(), "aux_loss", np.arange(4, dtype=np.float32))
    p = manifest.write(t, tmp_path / "m.parquet")
    back = manifest.read(p)
    assert back.column_names[: len(manifest.CORE_COLUMNS)] == list(manifest.CORE_COLUMNS)
    assert back.column("aux_loss").to_pylist() == [0.0, 1.0, 2.0, 3.0]
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed away


def test_validation_names_the_problem(tmp_path):
    t = _table()
    dup = t.set_column(0, "id", pa.array(["a", "a", "b", "c"]))
    with pytest.raises(ManifestError, match="'id' is not unique"):
        manifest.write(dup, tmp_path / "m.parquet")
    bad_split = t.set_column(
        t.column_names.index("split"), "split", pa.array(["Train Set", "train", "train", "train"])
    )
    with pytest.raises(ManifestError, match="invalid split name"):
        manifest.validate(bad_split)
    with pytest.raises(ManifestError, match="m.parquet: no manifest here"):
        manifest.read(tmp_path / "m.parquet")
    (tmp_path / "junk.parquet").write_text("nope")
    with pytest.raises(ManifestError, match="junk.parquet: not a readable Parquet"):
        manifest.read(tmp_path / "junk.parquet")


def test_set_split_and_label_need_a_reason_and_keep_rows():
    t = _table()
    with pytest.raises(ManifestError, match="needs a reason"):
        manifest.set_split(t, ["id1"], "removed", reason="")
    t2 = manifest.set_split(t, ["id1"], "removed", reason="dedup: duplicate of id0")
    assert t2.num_rows == t.num_rows
    assert manifest.column(t2, "split").tolist() == ["train", "removed", "train", "train"]
    assert manifest.column(t2, "reason").tolist() == [None, "dedup: duplicate of id0", None, None]
    t3 = manifest.set_label(t2, np.array([True, False, True, False]), ["x", "v"], reason="review: relabel")
    assert manifest.column(t3, "label").tolist() == ["x", "i", "v", "i"]
    with pytest.raises(ManifestError, match="unknown id"):
        manifest.set_split(t, ["nope"], "removed", reason="r")


def test_core_columns_are_not_score_columns():
    with pytest.raises(ManifestError, match="core column"):
        manifest.with_column(_table(), "label", ["a"] * 4)
    with pytest.raises(ManifestError, match="3 values for 4 rows"):
        manifest.with_column(_table(), "score", [1, 2, 3])


def test_active_rows_need_labels_but_quarantine_does_not():
    t = manifest.from_rows([{"id": "a", "uri": "u", "split": "quarantine", "origin": "original"}])
    manifest.validate(t)
    t = manifest.from_rows([{"id": "a", "uri": "u", "split": "train", "origin": "original"}])
    with pytest.raises(ManifestError, match="no label"):
        manifest.validate(t)
