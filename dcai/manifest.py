"""The manifest: one row per image, as an Arrow table stored in Parquet.

Every stage reads a manifest and writes a new one. Rows are never deleted: a removed image keeps its
row with ``split="removed"`` and a ``reason``. Stages add score columns with :func:`with_column`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dcai import storage
from dcai.errors import InputError

# Splits with a meaning to the stages. Any other lowercase name (e.g. ``label_book``, ``dev``) is
# allowed too: ingest keeps the folder names a user gave.
TRAIN, VAL, TEST, SURPLUS, REMOVED, QUARANTINE = "train", "val", "test", "surplus", "removed", "quarantine"
KNOWN_SPLITS = (TRAIN, VAL, TEST, SURPLUS, REMOVED, QUARANTINE)
# Splits whose rows are out of play: never trained on, never exported.
INACTIVE_SPLITS = (SURPLUS, REMOVED, QUARANTINE)

ORIGINAL = "original"

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # stable unique key every stage joins on
        pa.field("content_hash", pa.string()),  # sha1 of the file bytes; equal for byte-identical files
        pa.field("uri", pa.string(), nullable=False),  # local path or pyarrow.fs URI of the bytes to read
        pa.field("label", pa.string()),  # current class name
        pa.field(
            "split", pa.string(), nullable=False
        ),  # train / val / test / surplus / removed / quarantine / other
        pa.field("origin", pa.string(), nullable=False),  # original, augment, crop, mirror, compose, gan, ...
        pa.field("parent", pa.string()),  # id of the image this one was derived from
        pa.field("reason", pa.string()),  # why the row last changed split or label: "<stage>: <rule>"
        pa.field("source_uri", pa.string()),  # where the image came from (uri may point at a converted copy)
        pa.field("source_split", pa.string()),  # the split the user gave (folder or list column)
        pa.field("trusted", pa.bool_()),  # a reference example (label_book): certified, never relabelled
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field(
            "note", pa.string()
        ),  # what ingest did to make an odd image usable (RGBA, 16-bit, EXIF, ...)
    ]
)
CORE_COLUMNS = tuple(SCHEMA.names)
REQUIRED = ("id", "uri", "split", "origin")


class ManifestError(InputError):
    """A manifest that breaks the schema or its invariants; the message names the file and the problem."""


def row_id(*parts: str) -> str:
    """Stable id from its parts (a source URI; or a parent's id and a transform)."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def empty() -> pa.Table:
    return SCHEMA.empty_table()


def from_rows(rows: Sequence[dict] | Iterable[dict]) -> pa.Table:
    """Build a manifest from dicts; missing core columns become null, extra keys become columns."""
    rows = list(rows)
    if not rows:
        return empty()
    keys: list[str] = list(CORE_COLUMNS)
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    columns = {k: [r.get(k) for r in rows] for k in keys}
    return conform(pa.table(columns) if rows else empty())


def conform(table: pa.Table) -> pa.Table:
    """Cast core columns to the schema, add missing ones as nulls, keep extra (score) columns after them."""
    n = table.num_rows
    arrays, fields = [], []
    for field in SCHEMA:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type) if col.null_count < n else pa.nulls(n, field.type)
        else:
            col = pa.nulls(n, field.type)
        arrays.append(col)
        fields.append(pa.field(field.name, field.type))
    for name in table.column_names:
        if name not in CORE_COLUMNS:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def validate(table: pa.Table, *, source: str = "<manifest>") -> pa.Table:
    """Check the invariants every stage relies on; raise :class:`ManifestError` naming the problem."""
    for name in REQUIRED:
        if name not in table.column_names:
            raise ManifestError(f"{source}: missing required column {name!r} (have {table.column_names})")
        if table.column(name).null_count:
            raise ManifestError(
                f"{source}: column {name!r} has {table.column(name).null_count} null value(s)"
            )
    ids = table.column("id")
    if pc.count_distinct(ids).as_py() != table.num_rows:
        counts = pc.value_counts(ids)
        dup = [c["values"].as_py() for c in counts if c["counts"].as_py() > 1][:3]
        raise ManifestError(f"{source}: column 'id' is not unique (e.g. {dup})")
    bad = [s for s in pc.unique(table.column("split")).to_pylist() if not _valid_split(s)]
    if bad:
        raise ManifestError(
            f"{source}: invalid split name(s) {bad}: use lowercase letters, digits, '_' or '-'"
        )
    active = pc.invert(pc.is_in(table.column("split"), pa.array(INACTIVE_SPLITS)))
    unlabelled = pc.sum(pc.and_(active, pc.is_null(table.column("label")))).as_py() or 0
    if unlabelled:
        raise ManifestError(f"{source}: {unlabelled} active row(s) have no label")
    return table


def _valid_split(name: str) -> bool:
    return bool(name) and all(c.islower() or c.isdigit() or c in "_-" for c in name)


def read(path: str | os.PathLike | storage.UriPath) -> pa.Table:
    """A manifest from a local path or any ``pyarrow.fs`` URI, validated."""
    path = storage.path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no manifest here (has the stage that writes it run?)")
    try:
        if isinstance(path, storage.UriPath):
            table = pq.read_table(path.path, filesystem=path.fs)
        else:
            table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise ManifestError(f"{path}: not a readable Parquet manifest ({e})") from e
    return validate(conform(table), source=str(path))


def write(table: pa.Table, path: str | os.PathLike | storage.UriPath) -> storage.AnyPath:
    """Validate and write atomically: a temp file in the same folder, then ``os.replace`` (on object
    storage one PUT, which is atomic there)."""
    path = storage.path(path)
    table = validate(conform(table), source=str(path))
    if isinstance(path, storage.UriPath):
        pq.write_table(table, path.path, filesystem=path.fs)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def with_column(table: pa.Table, name: str, values: Sequence | np.ndarray | pa.Array) -> pa.Table:
    """Add or replace a score column; refuses to overwrite a core column (use the setters)."""
    if name in CORE_COLUMNS:
        raise ManifestError(f"column {name!r} is a core column: change it with set_split / set_label")
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if len(arr) != table.num_rows:
        raise ManifestError(f"column {name!r} has {len(arr)} values for {table.num_rows} rows")
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, arr)
    return table.append_column(name, arr)


def with_row_columns(
    table: pa.Table, rows: np.ndarray, cols: dict[str, tuple[Sequence, pa.DataType]]
) -> pa.Table:
    """Add ``{name: (values, type)}`` score columns whose values belong to ``rows`` (null elsewhere; NaN as null)."""
    for name, (values, dtype) in cols.items():
        out = np.full(table.num_rows, None, dtype=object)
        out[rows] = [None if isinstance(v, float) and np.isnan(v) else v for v in values]
        table = with_column(table, name, pa.array(out.tolist(), dtype))
    return table


def _mask(table: pa.Table, where: np.ndarray | Sequence[bool] | Iterable[str]) -> np.ndarray:
    """A boolean mask from a mask or from a collection of ids."""
    if isinstance(where, np.ndarray) and where.dtype == bool:
        mask = where
    else:
        where = list(where)
        if where and isinstance(where[0], (bool, np.bool_)):
            mask = np.asarray(where, dtype=bool)
        else:
            mask = pc.is_in(table.column("id"), pa.array(where, pa.string())).to_numpy(zero_copy_only=False)
            missing = set(where) - set(pc.filter(table.column("id"), pa.array(mask)).to_pylist())
            if missing:
                raise ManifestError(f"unknown id(s): {sorted(missing)[:5]}")
    if len(mask) != table.num_rows:
        raise ManifestError(f"mask has {len(mask)} entries for {table.num_rows} rows")
    return mask


def _set(table: pa.Table, column: str, where, value: str | Sequence[str], reason: str) -> pa.Table:
    if not reason:
        raise ManifestError(f"changing {column!r} needs a reason ('<stage>: <rule>')")
    mask = _mask(table, where)
    current = np.asarray(table.column(column).to_pylist(), dtype=object)
    reasons = np.asarray(table.column("reason").to_pylist(), dtype=object)
    if isinstance(value, str):
        new = np.full(int(mask.sum()), value, dtype=object)
    else:
        new = np.asarray(value, dtype=object)
        if len(new) == len(mask):
            new = new[mask]
        if len(new) != int(mask.sum()):
            raise ManifestError(f"{len(new)} new {column} value(s) for {int(mask.sum())} selected row(s)")
    current[mask] = new
    reasons[mask] = reason
    table = table.set_column(
        table.column_names.index(column), column, pa.array(current.tolist(), pa.string())
    )
    return table.set_column(
        table.column_names.index("reason"), "reason", pa.array(reasons.tolist(), pa.string())
    )


def set_split(table: pa.Table, where, split: str | Sequence[str], *, reason: str) -> pa.Table:
    """Move the selected rows (mask or ids) to ``split``, recording ``reason``."""
    for s in [split] if isinstance(split, str) else set(split):
        if not _valid_split(s):
            raise ManifestError(f"invalid split name {s!r}")
    return _set(table, "split", where, split, reason)


def set_label(table: pa.Table, where, label: str | Sequence[str], *, reason: str) -> pa.Table:
    """Relabel the selected rows (mask or ids), recording ``reason``."""
    return _set(table, "label", where, label, reason)


def append(table: pa.Table, new_rows: pa.Table) -> pa.Table:
    """Add derived rows (augment, crop, ...) below the existing ones; ids must stay unique."""
    merged = pa.concat_tables([conform(table), conform(new_rows)], promote_options="default")
    return validate(merged, source="append")


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as a numpy array (object dtype for strings)."""
    return table.column(name).to_numpy(zero_copy_only=False)


def counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """``{split: {label: n}}`` over all rows (label ``None`` shown as ``"-"``)."""
    out: dict[str, dict[str, int]] = {}
    for split, label in zip(table.column("split").to_pylist(), table.column("label").to_pylist()):
        d = out.setdefault(split, {})
        key = label if label is not None else "-"
        d[key] = d.get(key, 0) + 1
    return out


def active(table: pa.Table) -> pa.Table:
    """Rows that are in play (not surplus, removed or quarantined)."""
    return table.filter(pc.invert(pc.is_in(table.column("split"), pa.array(INACTIVE_SPLITS))))


def classes(table: pa.Table) -> list[str]:
    """Sorted class names of the active rows."""
    labels = active(table).column("label")
    return sorted(x for x in pc.unique(labels).to_pylist() if x is not None)
