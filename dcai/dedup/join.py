"""Attach both images' masks to each candidate pair: a reduce-side join built on the band group-by's shuffle.

Pair rows ``(key=a, other=b)`` and feature rows ``(key=idx, mask, sx, ...)`` share one schema, are
hash-partitioned together by ``key`` and matched inside each partition with a sort and a search
(:func:`attach`). Run once keyed on ``a``, once on ``b``; the second round verifies as it goes.
Ray Data's own ``Dataset.join`` would need polars, which dcai does not depend on.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# what the verifier reads of each image (sketch columns; see verify.verify_table), with its Arrow type
FEATURES: dict[str, pa.DataType] = {
    "mask": pa.binary(),  # fixed width, set by schema()
    "sx": pa.float32(),
    "sy": pa.float32(),
    "area": pa.float32(),
    "cx": pa.float32(),
    "cy": pa.float32(),
    "edge": pa.float32(),
    "canvas_w": pa.int32(),
    "canvas_h": pa.int32(),
}


def schema(mask_bytes: int, sides: tuple[str, ...]) -> pa.Schema:
    """Columns every row of one round carries: key, other, role (0 pair, 1 feature) and per-side features."""
    fields = [pa.field("key", pa.int64()), pa.field("other", pa.int64()), pa.field("role", pa.int8())]
    for s in sides:
        fields += [
            pa.field(f"{name}_{s}", pa.binary(mask_bytes) if name == "mask" else typ)
            for name, typ in FEATURES.items()
        ]
    return pa.schema(fields)


def pair_rows(key: np.ndarray, other: np.ndarray, carried: pa.Table | None, sc: pa.Schema) -> pa.Table:
    """Pair rows keyed on ``key``; ``carried`` holds features attached in an earlier round (or None)."""
    n = len(key)
    cols = {
        "key": pa.array(key, pa.int64()),
        "other": pa.array(other, pa.int64()),
        "role": pa.array(np.zeros(n, np.int8)),
    }
    for f in sc.names[3:]:
        cols[f] = (
            carried.column(f)
            if carried is not None and f in carried.column_names
            else pa.nulls(n, sc.field(f).type)
        )
    return pa.table(cols, schema=sc)


def feature_rows(batch: pa.Table, *, keep: np.ndarray, side: str, sc: pa.Schema, offset: int = 0) -> pa.Table:
    """``map_batches`` adapter: sketch rows (``idx`` + ``FEATURES``) of images in ``keep`` (sorted idx)."""
    idx = batch.column("idx").to_numpy() + offset
    sel = np.flatnonzero(np.isin(idx, keep))
    t = batch.take(pa.array(sel, pa.int64()))
    n = t.num_rows
    cols = {
        "key": pa.array(idx[sel], pa.int64()),
        "other": pa.array(np.full(n, -1, np.int64)),
        "role": pa.array(np.ones(n, np.int8)),
    }
    for f in sc.names[3:]:
        name = f.rsplit("_", 1)[0]
        cols[f] = t.column(name).combine_chunks() if f.endswith("_" + side) else pa.nulls(n, sc.field(f).type)
    return pa.table(cols, schema=sc)


def attach(part: pa.Table, *, side: str) -> pa.Table:
    """One partition: copy each feature row's ``*_{side}`` columns onto the pair rows with the same key.

    Returns the pair rows only, as ``a, b`` plus every feature column (pairs without a match are dropped).
    """
    role = part.column("role").to_numpy()
    pairs, feats = part.filter(pa.array(role == 0)), part.filter(pa.array(role == 1))
    fkey = feats.column("key").to_numpy()
    order = np.argsort(fkey, kind="stable")
    pkey = pairs.column("key").to_numpy()
    pos = np.searchsorted(fkey[order], pkey)
    found = (
        (pos < len(fkey)) & (fkey[order][np.minimum(pos, max(len(fkey) - 1, 0))] == pkey)
        if len(fkey)
        else np.zeros(len(pkey), bool)
    )
    take = order[pos[found]] if len(fkey) else np.empty(0, np.int64)
    pairs = pairs.filter(pa.array(found))
    out = {}
    for f in part.column_names[3:]:
        out[f] = (
            feats.column(f).take(pa.array(take, pa.int64())) if f.endswith("_" + side) else pairs.column(f)
        )
    key, other = pairs.column("key"), pairs.column("other")
    a, b = (key, other) if side == "a" else (other, key)
    return pa.table({"a": a, "b": b, **out})
