"""Perceptual hashes of ink masks: ``(N, S, S)`` bool → ``(N,)`` uint64 (pHash from the DCT, dHash from gradients).

Both work on the normalised mask, so they inherit its shift, scale and margin invariance; the
low-frequency pHash also shrugs off the one-cell jitter of rotation and stroke width. They are a
second candidate source beside MinHash: banded 16 bits at a time, then filtered by Hamming distance.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_BITS = np.uint64(1) << np.arange(64, dtype=np.uint64)


@lru_cache(maxsize=4)
def _dct_rows(n: int, k: int = 8) -> np.ndarray:
    """``(k, n)`` orthonormal DCT-II basis: the first ``k`` frequencies over ``n`` samples."""
    i = np.arange(n)
    basis = np.cos(np.pi * (2 * i[None, :] + 1) * np.arange(k)[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


def _pack(bits: np.ndarray) -> np.ndarray:
    """``(N, 64)`` bool → ``(N,)`` uint64, bit ``j`` from column ``j``."""
    return (bits.astype(np.uint64) * _BITS).sum(axis=1, dtype=np.uint64)


def phash(mask: np.ndarray) -> np.ndarray:
    """pHash: the 8 x 8 lowest DCT frequencies, each bit set where above the image's median coefficient."""
    d = _dct_rows(mask.shape[1])
    coeffs = np.einsum("ki,nij,lj->nkl", d, mask.astype(np.float32), d, optimize=True).reshape(len(mask), 64)
    return _pack(coeffs > np.median(coeffs[:, 1:], axis=1, keepdims=True))


def dhash(mask: np.ndarray) -> np.ndarray:
    """dHash: mean-pool to 8 x 9 and set a bit where a cell holds more ink than its right neighbour."""
    n, s, _ = mask.shape
    rows = (np.arange(8) * s) // 8
    cols = (np.arange(9) * s) // 9
    pooled = np.add.reduceat(np.add.reduceat(mask.astype(np.float32), rows, axis=1), cols, axis=2)
    return _pack((pooled[:, :, 1:] > pooled[:, :, :-1]).reshape(n, 64))
