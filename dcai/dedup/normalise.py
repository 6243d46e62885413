"""Decode and normalise for dedup: bytes → grayscale ``(H, W)`` uint8 + pixel hash → ink mask ``(S, S)`` bool.

The ink mask is the glyph cropped to its ink bounding box and scaled (aspect kept, centred) so its
longer side fills ``S`` cells; a cell is ink if any source pixel in it is. This removes shifts, margins
and scale, and keeps thin strokes of large scans visible. Two scalars per image survive the
normalisation: ``extent`` (glyph size relative to the canvas) and ``stroke`` (stroke width relative
to the glyph size). :func:`geometry` keeps what the normalisation throws away and a near copy must
preserve: canvas size, the ink's spread and pixel count, and its centroid in the canvas.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib

import numpy as np
import pyspng
from PIL import Image

from dcai import imaging
from dcai.dedup._jit import jit

MIN_CONTRAST = 48  # darkest pixel at least this far below the background, else the image has no ink
MAX_SIDE = 256  # larger images are box-reduced after hashing: every feature below is scale-free


def decode_gray(data: bytes, *, max_side: int = MAX_SIDE) -> tuple[np.ndarray, str]:
    """``(gray (H, W) uint8, sha1 of the decoded pixels and shape)``; colour is kept for the hash only."""
    gray, digest, _ = decode(data, max_side=max_side)
    return gray, digest


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def plain_png(data: bytes) -> np.ndarray | None:
    """The pixels of an intact 8-bit grey or RGB PNG (``(H, W)`` or ``(H, W, 3)`` uint8), else None.

    Decoded by libspng (pyspng): on the small files dedup reads (a 70 px numeral, ~600 B) it takes
    about a third of PIL's time, which spends most of its own on parsing in Python. pyspng skips the
    chunks' checksums (a damaged file decodes to wrong pixels), so they are checked here first. Anything
    else (other formats, palette, alpha, 16 bit, a damaged or truncated file, one libspng rejects)
    returns None and goes to PIL, which then decides, and names the problem. Lossless: PIL's pixels.
    """
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    if data[24] != 8 or data[25] not in (0, 2):  # bit depth, colour type (0 grey, 2 RGB)
        return None
    at, end = 8, len(data)
    while True:  # every chunk within the file and its CRC right, up to IEND
        if at + 12 > end:
            return None
        (size,) = struct.unpack_from(">I", data, at)
        if (
            at + 12 + size > end
            or zlib.crc32(data[at + 4 : at + 8 + size]) != struct.unpack_from(">I", data, at + 8 + size)[0]
        ):
            return None
        if data[at + 4 : at + 8] == b"IEND":
            break
        at += 12 + size
    try:
        arr = pyspng.load(data)
    except Exception:  # noqa: BLE001 - PIL reads it again and reports what is wrong
        return None
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        return None
    return arr


def decode(
    data: bytes, *, max_side: int = MAX_SIDE, hashed: bool = True
) -> tuple[np.ndarray, str, tuple[int, int]]:
    """As :func:`decode_gray`, plus the decoded image's ``(H, W)`` before any reduction; without ``hashed``
    the digest is ``""`` (the pixel check decodes images the sketch already hashed)."""
    arr = plain_png(data)
    if arr is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img: Image.Image = Image.open(io.BytesIO(data))
            img.load()
        if img.mode not in ("L", "RGB"):
            # ingest already converted odd modes (alpha, palette, 16-bit) to plain PNGs; this is the fallback
            img = img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "LA", "PA") else img.convert("L")
        arr = np.asarray(img, dtype=np.uint8)
    if (
        arr.ndim == 3
        and np.array_equal(arr[..., 0], arr[..., 1])
        and np.array_equal(arr[..., 1], arr[..., 2])
    ):
        arr = np.ascontiguousarray(arr[..., 0])  # a grey image saved as RGB hashes like the same image in L
    digest = ""
    if hashed:
        h = hashlib.sha1(f"{arr.shape}".encode())
        h.update(arr.tobytes())
        digest = h.hexdigest()
    gray = imaging.to_gray(arr)
    factor = max(gray.shape) // max_side
    if factor > 1:
        gray = np.asarray(Image.fromarray(gray).reduce(factor))
    return gray, digest, (int(arr.shape[0]), int(arr.shape[1]))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels a third of the way from the background to the darkest ink, or darker.

    The background is the commonest level (most of a glyph image is paper); a light-on-dark image is
    inverted first. Relative, not a fixed level, so JPEG, anti-aliased downscales and grey ink binarise alike.
    """
    return _ink(np.ascontiguousarray(gray, dtype=np.uint8))


@jit
def _ink(gray):
    h, w = gray.shape
    step = max(1, max(h, w) // 64)
    hist = np.zeros(256, np.int64)
    for y in range(0, h, step):
        for x in range(0, w, step):
            hist[gray[y, x]] += 1
    bg = int(np.argmax(hist))  # the first of equal counts
    if bg >= 128:
        dark = int(gray.min())
        if bg - dark < MIN_CONTRAST:
            return np.zeros((h, w), np.bool_)
        return gray < bg - (bg - dark) // 3
    # light on dark: compare 255 - g with 255 - bg
    bg, dark = 255 - bg, 255 - int(gray.max())
    if bg - dark < MIN_CONTRAST:
        return np.zeros((h, w), np.bool_)
    return gray > 255 - (bg - (bg - dark) // 3)


def normalise(gray: np.ndarray, *, size: int = 32) -> tuple[np.ndarray, float, float]:
    """``(mask (size, size) bool, extent, stroke)`` of one image; an all-False mask for a blank image.

    ``extent``: ink bounding-box diagonal over the canvas diagonal (resize- and JPEG-proof).
    ``stroke``: mean stroke width (2 * area / perimeter) over the bounding box's longer side.
    """
    mask = np.zeros((size, size), dtype=bool)
    values = _features(ink_mask(gray), size, 1.0, mask)
    return mask, float(values[0]), float(values[1])


def geometry(
    gray: np.ndarray, shape: tuple[int, int] | None = None
) -> tuple[float, float, float, float, float, float]:
    """``(sx, sy, area, cx, cy, edge)`` of the ink: spread (standard deviation + 0.3) along x and y and
    pixel count, in pixels of the original ``shape`` (``gray.shape`` if None), the centroid as fractions
    of the canvas width and height, and 1.0 where ink touches the canvas border (a shift or crop may
    have cut some off); ``(0, 0, 0, 0.5, 0.5, 0)`` with fewer than two ink pixels.

    Resize scales them with the canvas and keeps ``cx, cy``; crop and shift keep them in pixels
    exactly, JPEG nearly, rotation and a 1 px stroke change within ~10 % (the verifier's gates).
    """
    scale = (shape[1] / gray.shape[1]) if shape else 1.0
    values = _features(ink_mask(gray), 8, scale, np.zeros((8, 8), dtype=bool))
    return tuple(float(v) for v in values[2:])  # type: ignore[return-value]


@jit
def _block_sum(a, lo, n):
    """numpy's pairwise summation of ``a[lo : lo + n]`` for ``n <= 128``: eight running sums."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r = a[lo : lo + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@jit
def _pairwise_sum(a):
    """numpy's pairwise summation of float64 ``a``, in its order (the same last bit): halves (cut at a
    multiple of 8) summed apart down to blocks of 128. An explicit stack, not recursion: numba's cache
    cannot load a recursive function."""
    lo, n = np.zeros(64, np.int64), np.zeros(64, np.int64)
    phase, left = np.zeros(64, np.int64), np.zeros(64)
    lo[0], n[0], top, ret = 0, len(a), 1, 0.0
    while top:
        i = top - 1
        half = n[i] // 2 - (n[i] // 2) % 8
        if phase[i] == 0 and n[i] <= 128:
            ret, top = _block_sum(a, lo[i], n[i]), top - 1
        elif phase[i] == 2:  # both halves done
            ret, top = left[i] + ret, top - 1
        else:  # phase 0: sum the first half; phase 1: keep it, sum the second
            if phase[i] == 1:
                left[i] = ret
            lo[top], n[top], phase[top] = lo[i] + half * phase[i], n[i] - half if phase[i] else half, 0
            phase[i] += 1
            top += 1
    return ret


@jit
def _std(v, mean):
    """``np.std`` of the integers ``v`` with their mean given, bit for bit."""
    d = np.empty(len(v))
    for i in range(len(v)):
        x = v[i] - mean
        d[i] = x * x
    return np.sqrt((0.0 + _pairwise_sum(d)) / len(v))


@jit
def _features(ink, size, scale, mask):
    """One pass over an ink mask: writes the normalised ``mask`` (size × size, zeroed) and returns
    ``(extent, stroke, sx, sy, area, cx, cy, edge)`` float64 (see :func:`normalise`, :func:`geometry`;
    ``scale``: original width over ``ink``'s)."""
    h, w = ink.shape
    n = 0
    r0, r1, c0, c1 = h, -1, w, -1
    for y in range(h):
        for x in range(w):
            if ink[y, x]:
                n += 1
                r0, r1, c0, c1 = min(r0, y), max(r1, y), min(c0, x), max(c1, x)
    out = np.zeros(8)
    out[5], out[6] = 0.5, 0.5
    if n == 0:
        return out
    bh, bw = r1 - r0 + 1, c1 - c0 + 1
    out[0] = np.hypot(bh / h, bw / w) / np.sqrt(2.0)
    flips = 0
    for y in range(r0, r1 + 1):
        for x in range(c0, c1 + 1):
            if y > r0 and ink[y, x] != ink[y - 1, x]:
                flips += 1
            if x > c0 and ink[y, x] != ink[y, x - 1]:
                flips += 1
    perimeter = flips + 2 * (bh + bw)
    longer = max(bh, bw)
    out[1] = 2.0 * n / perimeter / longer
    # the bounding box scaled (aspect kept, centred) so its longer side fills `size` cells; a cell is
    # ink if any source pixel in it is (cell k covers source (k * n) // cells up to the next cell's start)
    f = size / longer
    oh, ow = max(1, min(size, int(np.rint(bh * f)))), max(1, min(size, int(np.rint(bw * f))))
    top, left = (size - oh) // 2, (size - ow) // 2
    for i in range(oh):
        ys = r0 + (i * bh) // oh
        ye = r0 + ((i + 1) * bh) // oh if i + 1 < oh else r1 + 1
        ye = max(ye, ys + 1)
        for j in range(ow):
            xs = c0 + (j * bw) // ow
            xe = c0 + ((j + 1) * bw) // ow if j + 1 < ow else c1 + 1
            xe = max(xe, xs + 1)
            hit = False
            for y in range(ys, ye):
                for x in range(xs, xe):
                    if ink[y, x]:
                        hit = True
                        break
                if hit:
                    break
            mask[top + i, left + j] = hit
    if n < 2:
        return out
    xs_, ys_ = np.empty(n, np.int64), np.empty(n, np.int64)  # np.nonzero's order: row by row
    k, sx, sy = 0, 0, 0
    for y in range(r0, r1 + 1):
        for x in range(c0, c1 + 1):
            if ink[y, x]:
                xs_[k], ys_[k] = x, y
                sx += x
                sy += y
                k += 1
    mx, my = sx / n, sy / n  # integer sums: exact, as numpy's
    out[2] = (_std(xs_, mx) + 0.3) * scale
    out[3] = (_std(ys_, my) + 0.3) * scale
    out[4] = float(n) * scale * scale
    out[5], out[6] = (mx + 0.5) / w, (my + 0.5) / h
    edge = False
    for x in range(w):
        edge = edge or ink[0, x] or ink[h - 1, x]
    for y in range(h):
        edge = edge or ink[y, 0] or ink[y, w - 1]
    out[7] = 1.0 if edge else 0.0
    return out


def normalise_batch(
    grays: list[np.ndarray], *, size: int = 32, shapes: list[tuple[int, int]] | None = None
) -> dict[str, np.ndarray]:
    """``{"mask": (N, size, size) bool, "extent", "stroke", "sx", "sy", "area", "cx", "cy", "edge": (N,) float32}``.

    ``shapes``: each image's ``(H, W)`` before :func:`decode` reduced it (``sx, sy, area`` are in those pixels).
    One compiled pass an image (:func:`_features`) gives the mask and every scalar.
    """
    n = len(grays)
    mask = np.zeros((n, size, size), dtype=bool)
    values = np.zeros((n, 8))
    for i, g in enumerate(grays):
        scale = shapes[i][1] / g.shape[1] if shapes else 1.0
        values[i] = _features(ink_mask(g), size, scale, mask[i])
    names = ("extent", "stroke", "sx", "sy", "area", "cx", "cy", "edge")
    return {"mask": mask, **{k: values[:, j].astype(np.float32) for j, k in enumerate(names)}}


def pack(mask: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` bool → ``(N, ceil(S*S/8))`` uint8, the stored form (8 cells a byte)."""
    return np.packbits(mask.reshape(len(mask), -1), axis=1)


def unpack(packed: np.ndarray, size: int) -> np.ndarray:
    """``(N, S*S/8)`` uint8 → ``(N, S, S)`` bool."""
    return np.unpackbits(packed, axis=1, count=size * size).reshape(len(packed), size, size).astype(bool)


def packed_masks(column) -> np.ndarray:
    """A ``mask`` column (fixed-size binary, Arrow or numpy of bytes) → ``(N, bytes)`` uint8, packed bits."""
    if hasattr(column, "buffers"):
        column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
        width = column.type.byte_width
        buf = np.frombuffer(column.buffers()[1], dtype=np.uint8)[
            column.offset * width : (column.offset + len(column)) * width
        ]
        return buf.reshape(len(column), width)
    return np.frombuffer(b"".join(column), dtype=np.uint8).reshape(len(column), -1)
