"""LSH banding as a group-by: signatures ``(N, P)`` → band keys ``(N, B)`` uint64 → bucket rows → candidate pairs.

:func:`band_rows` explodes each image into one ``(key, idx, phash)`` row per band; rows sharing a key
are a bucket. The engine groups rows by key (Ray Data hash-partitions them, so a bucket lives in one
partition) and :func:`bucket_pairs` turns each partition's buckets into candidate pairs ``(a, b)``,
``a < b``, with numpy only: no Python call per bucket.
"""

from __future__ import annotations

import numpy as np

from dcai.dedup.phash import hamming

PHASH_BAND_BITS = 16
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection on uint64 that spreads every input bit over the output."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def band_keys(sig: np.ndarray, *, bands: int, rows: int) -> np.ndarray:
    """``(N, P)`` uint32 → ``(N, bands)`` uint64: key of each band of ``rows`` values (band id mixed in)."""
    if bands * rows > sig.shape[1]:
        raise ValueError(f"bands * rows = {bands * rows} exceeds the signature length {sig.shape[1]}")
    s = sig[:, : bands * rows].astype(np.uint64).reshape(len(sig), bands, rows)
    h = np.broadcast_to(np.arange(bands, dtype=np.uint64) + np.uint64(1), (len(sig), bands)).copy()
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = _mix(h * np.uint64(0x100000001B3) ^ s[:, :, r])
    return h


def phash_keys(ph: np.ndarray) -> np.ndarray:
    """``(N,)`` uint64 pHash → ``(N, 64/16)`` uint64 keys, one per 16-bit slice, disjoint from band keys."""
    n_bands = 64 // PHASH_BAND_BITS
    shifts = np.arange(n_bands, dtype=np.uint64) * np.uint64(PHASH_BAND_BITS)
    slices = (ph.astype(np.uint64)[:, None] >> shifts[None, :]) & np.uint64((1 << PHASH_BAND_BITS) - 1)
    tag = (np.arange(n_bands, dtype=np.uint64) + np.uint64(1)) << np.uint64(56)  # "phash band k"
    return _mix(slices | tag | np.uint64(1 << 63))


def geo_keys(canvas_w: np.ndarray, canvas_h: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """``(N,)`` uint64 sort key: canvas width, height, then vertical ink spread (1/16 px).

    In a hot bucket, images in this order sit next to their same-canvas copies (JPEG, shift, rotation,
    stroke width keep the canvas), which pHash order scatters: rotation moves a glyph's pHash a lot.
    """
    w = np.clip(canvas_w, 0, 0xFFFF).astype(np.uint64)
    h = np.clip(canvas_h, 0, 0xFFFF).astype(np.uint64)
    q = np.clip(np.asarray(sy, np.float64) * 16, 0, 0xFFFFFFFF).astype(np.uint64)
    return (w << np.uint64(48)) | (h << np.uint64(32)) | q


def band_rows(
    idx: np.ndarray, keys: np.ndarray, ph: np.ndarray, *, source: int, geo: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """One row per (image, band): ``key`` uint64, ``idx`` int64, ``ph`` uint64 and ``src`` (0 MinHash, 1 pHash),
    and ``geo`` uint64 (:func:`geo_keys`) when given."""
    n, b = keys.shape
    out = {
        "key": keys.reshape(-1),
        "idx": np.repeat(idx.astype(np.int64), b),
        "ph": np.repeat(ph.astype(np.uint64), b),
        "src": np.full(n * b, source, dtype=np.uint8),
    }
    if geo is not None:
        out["geo"] = np.repeat(geo.astype(np.uint64), b)
    return out


def bucket_pairs(
    rows: dict[str, np.ndarray], *, max_bucket: int = 64, hot_window: int = 8, phash_distance: int = 8
) -> dict[str, np.ndarray]:
    """Candidate pairs ``{"a", "b"}`` (int64, ``a < b``, unique) from complete buckets of band rows.

    A bucket of up to ``max_bucket`` members yields all its pairs. A larger ("hot") bucket, e.g. a
    band every short vertical stroke shares, would yield O(n²) pairs: its members are ordered by pHash
    and each is paired only with its next ``hot_window`` members, so look-alikes still meet while the
    cost stays O(n); when rows carry ``geo`` (:func:`geo_keys`) the same window also runs in that
    order. Pairs from pHash buckets must also be within ``phash_distance`` bits.
    """
    orders = ["ph"] + (["geo"] if "geo" in rows else [])
    a_out, b_out = [], []
    for pass_no, by in enumerate(orders):
        order = np.lexsort((rows["idx"], rows[by], rows["key"]))  # idx breaks ties: the same pairs every run
        key, idx, ph, src = (rows[k][order] for k in ("key", "idx", "ph", "src"))
        n = len(key)
        if n == 0:
            continue
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sizes = np.diff(np.r_[starts, n])
        size_of = np.repeat(sizes, sizes)  # size of the bucket each row sits in
        pos = np.arange(n) - np.repeat(starts, sizes)  # place of each row in its bucket
        hot = size_of > max_bucket
        # partners of row i: the rows after it in its bucket, all of them in a small bucket (first pass
        # only), the next hot_window in a hot one. Built as one flat (i, i + d) list: O(pairs), no loop
        # over distances d touching every row.
        reach = np.where(hot, np.minimum(hot_window, size_of - pos - 1), 0 if pass_no else size_of - pos - 1)
        first = np.repeat(np.arange(n), reach)
        d = np.arange(len(first)) - np.repeat(np.cumsum(reach) - reach, reach) + 1
        second = first + d
        ok = src[first] == 0  # MinHash band; a pHash band's pair must also be near in pHash bits
        check = np.flatnonzero(~ok)
        ok[check] = hamming(ph[first[check]], ph[second[check]]) <= phash_distance
        a_out.append(idx[first[ok]])
        b_out.append(idx[second[ok]])
    if not a_out:
        return {"a": np.empty(0, np.int64), "b": np.empty(0, np.int64)}
    a, b = np.concatenate(a_out), np.concatenate(b_out)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    return unique_pairs(lo[keep], hi[keep])


def unique_pairs(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Drop repeated ``(a, b)`` pairs (the same pair meets in several bands)."""
    if len(a) == 0:
        return {"a": a.astype(np.int64), "b": b.astype(np.int64)}
    packed = np.sort((a.astype(np.uint64) << np.uint64(32)) | b.astype(np.uint64))
    packed = packed[np.r_[True, packed[1:] != packed[:-1]]]  # sorted unique: faster than np.unique's hashing
    return {
        "a": (packed >> np.uint64(32)).astype(np.int64),
        "b": (packed & np.uint64(0xFFFFFFFF)).astype(np.int64),
    }
