"""PIL's bilinear (antialiased) and box resampling of a darkness image, replayed as compiled loops: the
planted and real resized copies are PIL's, so the pixel check compares against the same pixels.
"""

from __future__ import annotations

import numpy as np

from dcai.dedup._jit import jit as _jit


@_jit
def _coefficients(n_in, n_out, box):
    """PIL's resampling weights from ``n_in`` to ``n_out`` samples (``Resample.c``: the filter stretched by
    the scale when reducing, weights normalised): ``(weights (n_out, k), first input (n_out,), count (n_out,))``.
    """
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    support = (0.5 if box else 1.0) * stretch
    weights = np.zeros((n_out, int(np.ceil(support)) * 2 + 1))
    first, count = np.zeros(n_out, np.int64), np.zeros(n_out, np.int64)
    for o in range(n_out):
        center = (o + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
        total = 0.0
        for i in range(hi - lo):
            t = (i + lo - center + 0.5) / stretch
            wt = (1.0 if -0.5 < t <= 0.5 else 0.0) if box else max(1.0 - abs(t), 0.0)
            weights[o, i] = wt
            total += wt
        if total != 0.0:
            weights[o, : hi - lo] /= total
        first[o], count[o] = lo, hi - lo
    return weights, first, count


@_jit
def _pass_rows(src, weights, first, count):
    """Resample ``src`` along axis 0: output row ``o`` = sum over taps ``i`` of
    ``src[first[o] + i] * weights[o, i]``, summed in float64 in tap order (PIL's), stored as float32."""
    n_out, w = len(first), src.shape[1]
    out = np.empty((n_out, w), np.float32)
    acc = np.empty(w)
    for o in range(n_out):
        acc[:] = 0.0
        for i in range(count[o]):
            r, wt = src[first[o] + i], weights[o, i]
            for x in range(w):
                acc[x] += r[x] * wt
        for x in range(w):
            out[o, x] = acc[x]
    return out


@_jit
def _resample(p, oh, ow, box):
    """``p`` resized to ``(oh, ow)`` as PIL resizes a float image (``BOX`` or ``BILINEAR``, antialiased
    when reducing): columns first, over the rows the second pass reads, then rows; the same pixels to
    float rounding. Each pass runs along axis 0 (the columns' on the transposed image)."""
    h, w = p.shape
    wy, fy, ny = _coefficients(h, oh, box)
    src = p
    if ow != w:
        wx, fx, nx = _coefficients(w, ow, box)
        r0, r1 = (fy[0], fy[oh - 1] + ny[oh - 1]) if oh != h else (0, h)
        src = np.ascontiguousarray(_pass_rows(np.ascontiguousarray(p[r0:r1].T), wx, fx, nx).T)
        fy = fy - r0
    if oh == h:
        return src
    return _pass_rows(src, wy, fy, ny)


def resize(p: np.ndarray, shape: tuple[int, int], box: bool) -> np.ndarray:
    """``(H, W)`` float darkness resized to ``shape`` as PIL does: bilinear (antialiased), or area with ``box``."""
    return _resample(np.ascontiguousarray(p, np.float32), shape[0], shape[1], box)
