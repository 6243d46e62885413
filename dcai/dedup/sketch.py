"""One batch of images → their dedup sketches: the pure functions the pipeline maps over Ray Data.

In: ``idx`` (N,) int64 and ``uri`` (N,) str (or ``data`` (N,) bytes). Out, per image: ``pixel_hash``
str, ``mask`` (S*S/8,) uint8 packed, ``ink`` int32, ``extent``, ``stroke``, ``sx``, ``sy``, ``area``, ``cx``, ``cy``, ``edge`` float32,
``canvas_w`` and ``canvas_h`` int32 (see ``normalise.geometry``), ``minhash``
(P,) uint32, ``phash`` uint64 and ``bands`` (B,) uint64. An undecodable image gets an empty mask.
With ``pixel_check``, ``data`` binary keeps the encoded file when it is at most ``pixel_inline_bytes``
long (null otherwise): the pixel check then reads it from here, not from the disk.
"""

from __future__ import annotations

import numpy as np

from dcai import imaging
from dcai.dedup import lsh, minhash, normalise, phash
from dcai.dedup.config import DedupConfig


def sketch(data: list[bytes], cfg: DedupConfig) -> dict[str, np.ndarray]:
    """Sketches of encoded images (see the module docstring for the columns)."""
    grays, hashes, shapes = [], [], []
    for d in data:
        try:
            g, h, shape = normalise.decode(d)
        except Exception:  # noqa: BLE001 - ingest quarantines broken files; a late failure must not stop dedup
            g, h, shape = np.full((1, 1), 255, np.uint8), "", (1, 1)
        grays.append(g)
        hashes.append(h)
        shapes.append(shape)
    norm = normalise.normalise_batch(grays, size=cfg.size, shapes=shapes)
    mask = norm["mask"]
    sig = minhash.signatures(minhash.shingles(mask, grid=cfg.grid), num_perm=cfg.num_perm, seed=cfg.seed)
    ph = phash.phash(mask)
    return {
        "pixel_hash": np.asarray(hashes, dtype=object),
        "mask": normalise.pack(mask),
        "ink": mask.reshape(len(mask), -1).sum(axis=1).astype(np.int32),
        "extent": norm["extent"],
        "stroke": norm["stroke"],
        **{k: norm[k] for k in ("sx", "sy", "area", "cx", "cy", "edge")},
        "canvas_w": np.array([w for _, w in shapes], dtype=np.int32),
        "canvas_h": np.array([h for h, _ in shapes], dtype=np.int32),
        "minhash": sig,
        "phash": ph,
        "bands": lsh.band_keys(sig, bands=cfg.bands, rows=cfg.rows),
    }


def explode_table(
    batch, *, use_phash: bool, min_ink: int, skip: np.ndarray, offset: int = 0
) -> dict[str, np.ndarray]:
    """``map_batches`` adapter: sketches (Arrow) → band rows (``lsh.band_rows``) of images worth near-matching.

    ``skip``: sorted ``idx`` of pixel-identical copies already grouped exactly; ``offset`` is added to
    ``idx`` (the sketches of an earlier run follow the new ones).
    """
    idx = batch.column("idx").to_numpy() + offset
    keep = (batch.column("ink").to_numpy() >= min_ink) & ~np.isin(idx, skip)
    bands_col = batch.column("bands").combine_chunks()
    width = bands_col.type.list_size
    bands = bands_col.flatten().to_numpy().reshape(-1, width)[keep]
    idx = idx[keep]
    ph = batch.column("phash").to_numpy()[keep]
    geo = lsh.geo_keys(*(batch.column(k).to_numpy()[keep] for k in ("canvas_w", "canvas_h", "sy")))
    parts = [lsh.band_rows(idx, bands.astype(np.uint64), ph, source=0, geo=geo)]
    if use_phash:
        parts.append(lsh.band_rows(idx, lsh.phash_keys(ph), ph, source=1, geo=geo))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


PASS_THROUGH = (
    "id",
    "uri",
    "content_hash",
    "label",
    "split",
)  # stored with the sketch so --against needs no manifest


def to_arrow(
    idx: np.ndarray,
    sk: dict[str, np.ndarray],
    extra: dict[str, np.ndarray] | None = None,
    inline: list[bytes | None] | None = None,
):
    """Sketch columns as a typed Arrow table (fixed-size binary / lists, so joins and Parquet keep shapes)."""
    import pyarrow as pa

    n = len(idx)
    mask, sig, bands = sk["mask"], sk["minhash"], sk["bands"]
    cols = {
        "idx": pa.array(idx, pa.int64()),
        "pixel_hash": pa.array(sk["pixel_hash"].tolist(), pa.string()),
        "mask": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(mask.shape[1]), n, [None, pa.py_buffer(np.ascontiguousarray(mask))]
        ),
        "ink": pa.array(sk["ink"], pa.int32()),
        "extent": pa.array(sk["extent"], pa.float32()),
        "stroke": pa.array(sk["stroke"], pa.float32()),
        **{k: pa.array(sk[k], pa.float32()) for k in ("sx", "sy", "area", "cx", "cy", "edge")},
        **{k: pa.array(sk[k], pa.int32()) for k in ("canvas_w", "canvas_h")},
        "minhash": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), sig.shape[1]),
        "phash": pa.array(sk["phash"], pa.uint64()),
        "bands": pa.FixedSizeListArray.from_arrays(pa.array(bands.reshape(-1), pa.uint64()), bands.shape[1]),
    }
    for k, v in (extra or {}).items():
        cols[k] = pa.array(list(v), pa.string())
    if inline is not None:
        cols["data"] = pa.array(inline, pa.binary())
    return pa.table(cols)


def sketch_table(batch, *, cfg: DedupConfig):
    """``map_batches`` adapter (Arrow in, Arrow out): ``idx`` + ``uri`` or ``data`` (+ pass-through columns)."""
    names = batch.column_names
    data = (
        batch.column("data").to_pylist()
        if "data" in names
        else imaging.read_many(batch.column("uri").to_pylist(), threads=cfg.read_threads)
    )
    idx = batch.column("idx").to_numpy()
    extra = {k: batch.column(k).to_pylist() for k in PASS_THROUGH if k in names}
    limit = cfg.pixel_inline_bytes if cfg.pixel_check else 0
    inline = [d if len(d) <= limit else None for d in data] if limit else None
    return to_arrow(idx, sketch(data, cfg), extra, inline)
