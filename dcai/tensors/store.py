"""The run's decoded images: one uint8 tensor dataset per input size and resize, Parquet in the run.

``RUN/tensors/rgb<size>-<resize>-v1/*.parquet`` rows: ``content_hash`` (string, the manifest's) and
``image`` (``fixed_size_binary(size * size * 3)``: one ``(size, size, 3)`` uint8 HWC image). Keyed by
content, so every stage and every later run of the same size and resize reads what an earlier one
decoded; a stage decodes only the hashes not there yet and adds them as new files. Pixels are rounded
to uint8 (4x smaller than the float32 of ``RUN/cache``; at most 0.5 of 255 off the exact resize).

:class:`Tensors` is a handle on some rows of the dataset, in a given order, that a training worker turns
into ``(N, size, size, 3)`` uint8 itself (the driver never holds the pixels); :class:`RowIndex` maps a
batch of the dataset's hashes to the manifest rows that carry them.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa

from dcai import storage
from dcai.models import inputs

VERSION = "v1"  # bump when the decode or resize changes, so stale pixels are never reused


def folder(run_dir: str | os.PathLike | storage.UriPath, size: int, method: str) -> storage.AnyPath:
    """Where the run keeps its images decoded at ``size`` px with resize ``method``."""
    return storage.path(run_dir) / "tensors" / f"rgb{size}-{method}-{VERSION}"


def schema(size: int) -> pa.Schema:
    return pa.schema([("content_hash", pa.string()), ("image", pa.binary(size * size * 3))])


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 255] → uint8, rounded to the nearest."""
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def decode_batch(batch: pa.Table, *, size: int, method: str) -> pa.Table:
    """``map_batches`` body: ``uri``, ``content_hash`` rows → ``content_hash``, ``image`` (the schema above)."""
    uris = batch.column("uri").to_pylist()
    px = [to_uint8(inputs.load(u, size, method)).tobytes() for u in uris]
    return pa.table(
        {"content_hash": batch.column("content_hash"), "image": pa.array(px, pa.binary(size * size * 3))}
    )


def images(column: pa.Array | pa.ChunkedArray, size: int) -> np.ndarray:
    """An ``image`` column → ``(N, size, size, 3)`` uint8 (one copy, from the Arrow buffers)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    per = size * size * 3
    parts = []
    for c in chunks:
        if c.null_count:
            raise ValueError("the tensor dataset has a null image")
        buf = c.buffers()[1]
        parts.append(np.frombuffer(buf, np.uint8, count=len(c) * per, offset=c.offset * per))
    flat = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    return flat.reshape(-1, size, size, 3)


def dataset(where: storage.AnyPath):
    """A ``pyarrow.dataset`` of the Parquet files at ``where`` (a folder or a pyarrow.fs URI)."""
    import pyarrow.dataset as pads

    if isinstance(where, storage.UriPath):
        return pads.dataset(where.path, filesystem=where.fs, format="parquet")
    return pads.dataset(str(where), format="parquet")


def known_hashes(where: storage.AnyPath) -> set[str]:
    """The content hashes the dataset at ``where`` holds (empty when it does not exist yet)."""
    if not where.exists():
        return set()
    return set(dataset(where).to_table(columns=["content_hash"]).column("content_hash").to_pylist())


def hash_keys(hashes) -> np.ndarray:
    """Content hashes (hex strings) → a fixed-width bytes array ``(N,)`` (``S40``: 40 B a row, not 160)."""
    if isinstance(hashes, np.ndarray) and hashes.dtype.kind == "S":
        return hashes.astype("S40")
    return np.asarray([str(h) for h in hashes], dtype="S40")


class Tensors:
    """Rows ``hashes`` ``(N,)`` of the tensor dataset at ``where``, in that order; :meth:`load` reads them."""

    def __init__(self, where: storage.AnyPath, hashes, size: int):
        self.where = str(where)
        self.keys = hash_keys(hashes)
        self.size = size
        self.key = hashlib.sha1(self.where.encode() + self.keys.tobytes()).hexdigest()

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.keys), self.size, self.size, 3)

    def load(self) -> np.ndarray:
        """``(N, size, size, 3)`` uint8; the last load in this process is kept (a worker fits many specs on
        the same rows)."""
        global _LAST
        if _LAST is not None and _LAST[0] == self.key:
            return _LAST[1]
        _LAST = None  # let the old array go before reading the new
        table = dataset(storage.path(self.where)).to_table()
        found = hash_keys(table.column("content_hash").to_pylist())
        order = np.argsort(found, kind="stable")
        at = np.searchsorted(found[order], self.keys)
        if (at >= len(found)).any() or (found[order][np.minimum(at, len(found) - 1)] != self.keys).any():
            raise KeyError(f"{self.where}: the tensor dataset lacks some of the rows asked for")
        x = images(table.column("image"), self.size)[order[at]]
        _LAST = (self.key, x)
        return x


_LAST: tuple[str, np.ndarray] | None = None


class RowIndex:
    """Content hashes of the manifest rows ``(N,)`` → which rows a batch of the tensor dataset serves
    (a hash carried by several rows, exact duplicates, serves each of them)."""

    def __init__(self, hashes):
        keys = hash_keys(hashes)
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]

    def __len__(self) -> int:
        return len(self.order)

    def find(self, hashes) -> tuple[np.ndarray, np.ndarray]:
        """``(at, rows)``: batch positions ``at`` and the manifest rows ``rows`` they serve, both ``(R,)``;
        batch hashes no row carries serve none."""
        keys = hash_keys(hashes)
        lo = np.searchsorted(self.sorted, keys, "left")
        hi = np.searchsorted(self.sorted, keys, "right")
        counts = hi - lo
        at = np.repeat(np.arange(len(keys)), counts)
        starts = np.repeat(lo, counts)
        within = np.arange(len(at)) - np.repeat(np.cumsum(counts) - counts, counts)
        return at, self.order[starts + within]
