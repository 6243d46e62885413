"""LSH banding as a group-by: signatures ``(N, P)`` → band keys ``(N, B)`` uint64 → bucket rows → candidate pairs.

:func:`band_rows` explodes each image into one ``(key, idx, phash)`` row per band; rows sharing a key
are a bucket. The engine groups rows by key (Ray Data hash-partitions them, so a bucket lives in one
partition) and :func:`bucket_pairs` turns each partition's buckets into candidate pairs ``(a, b)``,
``a < b``, in one compiled pass: no Python call per bucket.
"""

from __future__ import annotations

import numpy as np

from dcai.dedup._jit import jit, popcount

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
    """Candidate pairs ``{"a", "b"}`` (int64, ``a < b``, unique, sorted) from complete buckets of band rows.

    A bucket of up to ``max_bucket`` members yields all its pairs. A larger ("hot") bucket, e.g. a
    band every short vertical stroke shares, would yield O(n²) pairs: its members are ordered by pHash
    and each is paired only with its next ``hot_window`` members, so look-alikes still meet while the
    cost stays O(n); when rows carry ``geo`` (:func:`geo_keys`) the same window also runs in that
    order. Pairs from pHash buckets must also be within ``phash_distance`` bits. Ties in either order
    fall back on ``idx``: the same pairs every run. One sort of the rows, then a compiled pass over the
    buckets (:func:`_bucket_pairs`); the pairs are deduplicated as one radix-sorted array of codes.
    """
    idx = np.asarray(rows["idx"], np.int64)
    if len(idx) == 0:
        return {"a": np.empty(0, np.int64), "b": np.empty(0, np.int64)}
    order = np.lexsort((idx, rows["key"]))  # by key, a bucket's members by idx
    geo = rows.get("geo")
    base = int(idx.max()) + 1
    codes = _bucket_pairs(
        np.ascontiguousarray(rows["key"][order], np.uint64),
        idx[order],
        np.ascontiguousarray(rows["ph"][order], np.uint64),
        np.ascontiguousarray(rows["src"][order], np.uint8),
        np.empty(0, np.uint64) if geo is None else np.ascontiguousarray(geo[order], np.uint64),
        geo is not None,
        max_bucket,
        hot_window,
        phash_distance,
        base,
    )
    return _unique_codes(codes, base)


@jit
def _bucket_pairs(key, idx, ph, src, geo, use_geo, max_bucket, hot_window, phash_distance, base):
    """The pairs of every bucket (a run of equal ``key``; members in ``idx`` order) as codes
    ``a * base + b``, ``a < b``, repeats left in."""
    n = len(key)
    passes = 2 if use_geo else 1
    bound, s = 0, 0
    while s < n:
        e = s + 1
        while e < n and key[e] == key[s]:
            e += 1
        size = e - s
        bound += size * hot_window * passes if size > max_bucket else size * (size - 1) // 2
        s = e
    out = np.empty(bound, np.uint64)
    m, s, b = 0, 0, np.uint64(base)
    while s < n:
        e = s + 1
        while e < n and key[e] == key[s]:
            e += 1
        size = e - s
        if size <= max_bucket:
            for i in range(s, e):
                for j in range(i + 1, e):
                    if _near(i, j, idx, ph, src, phash_distance):
                        out[m] = _code(idx[i], idx[j], b)
                        m += 1
        else:
            for p in range(passes):
                by = np.argsort(ph[s:e] if p == 0 else geo[s:e], kind="mergesort")  # stable: idx breaks ties
                for u in range(size):
                    i = s + by[u]
                    for d in range(1, min(hot_window, size - u - 1) + 1):
                        j = s + by[u + d]
                        if _near(i, j, idx, ph, src, phash_distance):
                            out[m] = _code(idx[i], idx[j], b)
                            m += 1
        s = e
    return out[:m]


@jit
def _near(i, j, idx, ph, src, phash_distance):
    """Rows ``i``, ``j`` of one bucket make a pair: two images, and a pHash bucket's within the distance."""
    return idx[i] != idx[j] and (src[i] == 0 or popcount(ph[i] ^ ph[j]) <= phash_distance)


@jit
def _code(x, y, base):
    """The pair of image numbers ``x != y`` as one uint64, smaller first: ``min * base + max``."""
    return np.uint64(min(x, y)) * base + np.uint64(max(x, y))


def _unique_codes(codes: np.ndarray, base: int) -> dict[str, np.ndarray]:
    """Pair codes (:func:`_code`) → the distinct pairs ``{"a", "b"}``, sorted."""
    codes = _unique_sorted(_radix_sort(codes, (base * base - 1).bit_length()))
    return {"a": (codes // np.uint64(base)).astype(np.int64), "b": (codes % np.uint64(base)).astype(np.int64)}


@jit
def _radix_sort(x, bits):
    """``x`` (uint64, every value below ``2**bits``) sorted: least significant 11 bits first, one counting
    pass each. A code of two image numbers has ~40 bits: four passes, ~5x faster than ``np.sort``."""
    src, dst = x.copy(), np.empty_like(x)
    shift = 0
    while shift < bits:
        counts = np.zeros(2049, np.int64)
        for v in src:
            counts[((v >> np.uint64(shift)) & np.uint64(2047)) + 1] += 1
        for d in range(2048):
            counts[d + 1] += counts[d]
        for v in src:
            d = (v >> np.uint64(shift)) & np.uint64(2047)
            dst[counts[d]] = v
            counts[d] += 1
        src, dst = dst, src
        shift += 11
    return src


@jit
def _unique_sorted(x):
    if len(x) == 0:
        return x
    out = np.empty_like(x)
    out[0], m = x[0], 1
    for i in range(1, len(x)):
        if x[i] != x[i - 1]:
            out[m] = x[i]
            m += 1
    return out[:m].copy()


def unique_pairs(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Drop repeated ``(a, b)`` pairs (``a < b``; the same pair meets in several bands), sorted."""
    if len(a) == 0:
        return {"a": np.asarray(a, np.int64), "b": np.asarray(b, np.int64)}
    base = int(max(a.max(), b.max())) + 1
    return _unique_codes(a.astype(np.uint64) * np.uint64(base) + b.astype(np.uint64), base)
