"""A keyed shuffle through files: rows ``(N,)`` with an int ``key`` → ``P`` partition folders → one table per partition.

The map side (:func:`scatter`) hashes each row's key to a partition and appends one Parquet file per
(task, partition) under ``root/p=<k>/``; the reduce side (:func:`gather`) reads one partition whole.
Every row of a key therefore lands in one reducer, as in a hash group-by. It needs only tasks and a
folder every worker sees (the run folder is on shared storage on a cluster anyway), so it starts in
milliseconds where Ray Data's actor-based hash shuffle takes tens of seconds on a small machine.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dcai.dedup.lsh import _mix


def partition_of(key: np.ndarray, parts: int) -> np.ndarray:
    """``(N,)`` partition index of each key (mixed first: band keys are hashes, row ids are not)."""
    return (_mix(key.astype(np.int64).view(np.uint64)) % np.uint64(parts)).astype(np.int64)


def scatter(table: pa.Table, *, root: str, parts: int, key: str = "key") -> pa.Table:
    """``map_batches`` body: write ``table``'s rows into their partitions; returns a one-row count table."""
    if isinstance(table, dict):
        table = pa.table(table)
    p = partition_of(table.column(key).to_numpy(), parts)
    order = np.argsort(p, kind="stable")
    bounds = np.searchsorted(p[order], np.arange(parts + 1))
    name = f"{uuid.uuid4().hex}.parquet"
    for k in range(parts):
        if bounds[k + 1] > bounds[k]:
            folder = Path(root) / f"p={k}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table.take(pa.array(order[bounds[k] : bounds[k + 1]])), folder / name, compression="lz4"
            )
    return pa.table({"rows": [table.num_rows]})


def gather(root: str, part: int) -> pa.Table | None:
    """All rows of one partition (None if no row hashed there)."""
    folder = Path(root) / f"p={part}"
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None
