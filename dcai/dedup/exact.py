"""Exact duplicates: equal file bytes or equal decoded pixels → union-find edges ``(a, b)`` over row indices ``(N,)``.

Grouping equal strings is a hash group-by; on the driver it is one ``pyarrow`` dictionary encode of
a column the manifest already holds (``content_hash``) or the sketches carry (``pixel_hash``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def codes(values: pa.Array | pa.ChunkedArray | list) -> np.ndarray:
    """``(N,)`` int64: equal non-empty values share a code; null or empty values get a code of their own."""
    arr = pa.chunked_array([values]) if isinstance(values, list) else values
    arr = pa.chunked_array([arr]) if isinstance(arr, pa.Array) else arr
    enc = (
        arr.combine_chunks().dictionary_encode()
        if arr.num_chunks
        else pa.array([], pa.string()).dictionary_encode()
    )
    out = enc.indices.to_numpy(zero_copy_only=False).astype(np.float64)
    bad = (
        pc.or_(pc.is_null(arr), pc.equal(arr, "")).to_numpy(zero_copy_only=False)
        if len(arr)
        else np.zeros(0, bool)
    )
    bad = np.asarray(bad, dtype=bool) | np.isnan(out)
    out = np.where(bad, -1, out).astype(np.int64)
    n_codes = int(out.max(initial=-1)) + 1
    out[bad] = n_codes + np.arange(int(bad.sum()))  # unique codes: a missing hash matches nothing
    return out


def edges(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Star edges ``(first row of each code, other row)`` for every code held by more than one row."""
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    first = np.r_[True, sorted_code[1:] != sorted_code[:-1]] if len(code) else np.zeros(0, bool)
    head = order[np.flatnonzero(first)][np.cumsum(first) - 1]
    keep = ~first
    return head[keep].astype(np.int64), order[keep].astype(np.int64)


def representatives(code: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the first row of each code (the one that takes part in near matching)."""
    _, first = np.unique(code, return_index=True)
    out = np.zeros(len(code), dtype=bool)
    out[first] = True
    return out
