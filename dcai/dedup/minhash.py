"""Shingles and MinHash signatures: ink masks ``(N, S, S)`` bool → token sets ``(N, G*G)`` bool → ``(N, P)`` uint32.

A shingle is one cell of the mask max-pooled to a ``G x G`` grid and dilated by one cell: a token
set that tolerates the one-cell jitter left by rotation, crop and stroke-width changes.
Signatures are bit-identical to ``datasketch.MinHash(num_perm=P, seed=seed, hashfunc=token id)``
(scheme ``affine32``) and load as :class:`datasketch.LeanMinHash` via :func:`lean`. We compute
them here rather than with ``MinHash.bulk`` because ``update_batch`` calls the hash function once
per token in Python (about 1 ms an image); over a fixed token universe the whole permutation table
is precomputed once and a batch is one vectorised ``min``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's value for a permutation that saw no token


def shingles(mask: np.ndarray, *, grid: int = 16, dilate: int = 1) -> np.ndarray:
    """``(N, S, S)`` bool → ``(N, grid*grid)`` bool: the token set, token id = row * grid + column."""
    n, s, _ = mask.shape
    f = s // grid
    cells = mask[:, : grid * f, : grid * f].reshape(n, grid, f, grid, f).any(axis=(2, 4))
    if dilate:
        padded = np.pad(cells, ((0, 0), (dilate, dilate), (dilate, dilate)))
        out = np.zeros_like(cells)
        for dy in range(2 * dilate + 1):
            for dx in range(2 * dilate + 1):
                out |= padded[:, dy : dy + grid, dx : dx + grid]
        cells = out
    return cells.reshape(n, grid * grid)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it to each input hash (``affine32``)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@lru_cache(maxsize=8)
def table(num_perm: int, seed: int, universe: int) -> np.ndarray:
    """``(P, U)`` uint32: permuted hash of every token under every permutation (datasketch's a, b)."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    tokens = _fmix32(np.arange(universe, dtype=np.uint32))
    with np.errstate(over="ignore"):  # uint32 wrap-around is the modulo 2^32 of the scheme
        out = a.astype(np.uint32)[:, None] * tokens[None, :] + b.astype(np.uint32)[:, None]
    out.setflags(write=False)
    return out


def signatures(tokens: np.ndarray, *, num_perm: int = 64, seed: int = 1, chunk: int = 128) -> np.ndarray:
    """``(N, U)`` bool token sets → ``(N, num_perm)`` uint32 MinHash values (all ``EMPTY`` for an empty set)."""
    t = table(num_perm, seed, tokens.shape[1])
    out = np.empty((len(tokens), num_perm), dtype=np.uint32)
    for i in range(0, len(tokens), chunk):
        x = tokens[i : i + chunk]
        out[i : i + chunk] = np.where(x[:, None, :], t[None, :, :], EMPTY).min(axis=2)
    return out


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of paired signatures ``(M, P)`` → ``(M,)``, as ``MinHash.jaccard``."""
    return (sig_a == sig_b).mean(axis=-1)


def lean(signature: np.ndarray, *, seed: int = 1):
    """One stored signature ``(P,)`` as a :class:`datasketch.LeanMinHash`, e.g. for a datasketch LSH index."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=signature.astype(np.uint32), scheme="affine32")
