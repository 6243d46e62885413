"""The sketch folders a dedup run keeps (``NN-dedup/signatures.parquet/``), read back on the driver.

A *source* is ``(folder, offset)``: a folder of sketch Parquet files whose ``idx`` is shifted by
``offset`` (an earlier run's sketches, with ``--against``, follow this run's rows). What the verifier
reads of every image (:func:`read_features`), the encoded files the pixel check reads
(:func:`read_inline`), and an earlier run's sketches (:func:`old_sketches`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dcai import storage
from dcai.dedup import join, normalise, pixels, verify
from dcai.dedup.config import DedupConfig
from dcai.errors import InputError
from dcai.runs import Run

STAGE = "dedup"
SIGNATURES = "signatures.parquet"  # a folder of Parquet files, one per written block

Sources = list[tuple[Path, int]]


def read_features(sources: Sources, n_rows: int) -> dict[str, np.ndarray]:
    """What ``verify.verify_pairs`` reads of every image, row ``idx`` at position ``idx`` (offsets applied)."""
    parts = []
    for folder, offset in sources:
        t = pq.read_table(folder, columns=["idx", *join.FEATURES])
        parts.append((t.column("idx").to_numpy() + offset, t))
    idx = np.concatenate([i for i, _ in parts])
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(n_rows)):
        raise RuntimeError(
            f"dedup: sketches hold {len(idx)} rows, not rows 0..{n_rows - 1} (a partial sketch?)"
        )
    feats = {k: np.concatenate([t.column(k).to_numpy() for _, t in parts])[order] for k in verify.GEOMETRY}
    feats["mask"] = np.concatenate([normalise.packed_masks(t.column("mask")) for _, t in parts])[order]
    return feats


def feature_bytes(cfg: DedupConfig) -> int:
    """Bytes a row of :func:`read_features` takes."""
    return (cfg.size * cfg.size + 7) // 8 + 4 * len(verify.GEOMETRY)


def read_inline(sources: Sources, need: np.ndarray, limit: int) -> dict | None:
    """The encoded files the sketches kept (``pixels.inline_store``) of the images ``need`` (sorted idx).

    None when the sketches kept none (``pixel_inline_bytes=0``, or an earlier run's sketches from before
    the column existed), or when they total more than ``limit`` bytes: then every file is re-read.
    """
    idx, data, size = [], [], 0
    for folder, offset in sources:
        files = sorted(folder.glob("*.parquet"))
        if not files or "data" not in pq.read_schema(files[0]).names:
            continue
        for f in files:  # one file at a time: the driver never holds more than `limit` + one file
            t = pq.read_table(f, columns=["idx", "data"])
            i = t.column("idx").to_numpy() + offset
            hit = np.isin(i, need)
            idx.append(i[hit])
            data.append(t.column("data").filter(pa.array(hit)).combine_chunks())
            size += data[-1].nbytes
            if size > limit:
                return None
    if not idx:
        return None
    store = pixels.inline_store(np.concatenate(idx), pa.chunked_array(data).combine_chunks())
    return store if len(store["idx"]) else None


def old_sketches(against: str | Path) -> tuple[Path, pa.Table]:
    """An earlier run's sketch folder and its rows (``idx``, ``id``, ``uri``, hashes, label, split) by ``idx``."""
    stage = Run(against).stage_dir(STAGE)
    folder = storage.local(stage, "dedup --against") / SIGNATURES if stage else None
    if folder is None or not folder.exists():
        raise InputError(
            f"{against}: --against needs a finished dedup stage with {SIGNATURES} (run `dcai dedup --run {against}`)"
        )
    t = pq.read_table(folder, columns=["idx", "id", "uri", "content_hash", "pixel_hash", "label", "split"])
    return folder, t.take(pc.sort_indices(t.column("idx")))
