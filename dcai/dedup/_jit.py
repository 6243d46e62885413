"""The numba decorators of dedup's compiled kernels (normalise, verify, pixels).

Dedup's per-image and per-pair work is many passes over small arrays (a 70 px glyph, a 32×32 mask,
two scalars a pair): as numpy calls each pass allocates a temporary and pays a call's overhead, which
at that size costs more than the arithmetic. Such passes are fused loops compiled by numba
(``cache=True``: compiled once per machine into ``__pycache__``, then loaded by every worker).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)
# For the sums of a residual only: lets the compiler reorder (and so vectorise) them; a residual then moves
# in its last bits, far below any tolerance. Everything else keeps numpy's (or PIL's) order of operations,
# so a compiled kernel returns the numbers the numpy code it replaced did.
jit_sums = njit(cache=True, nogil=True, fastmath=True)


@jit
def popcount(x):
    """Set bits of a uint64 (SWAR: no popcount instruction needed)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))
