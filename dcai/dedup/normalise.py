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
    step = max(1, max(gray.shape) // 64)
    bg = int(np.bincount(gray[::step, ::step].ravel(), minlength=256).argmax())
    g = gray if bg >= 128 else 255 - gray
    bg = max(bg, 255 - bg)
    dark = int(g.min())
    if bg - dark < MIN_CONTRAST:
        return np.zeros(g.shape, dtype=bool)
    return g < bg - (bg - dark) // 3


def _starts(n: int, cells: int) -> np.ndarray:
    """Start index of each of ``cells`` output cells over ``n`` input pixels (repeats when upscaling)."""
    return (np.arange(cells) * n) // cells


def normalise(gray: np.ndarray, *, size: int = 32) -> tuple[np.ndarray, float, float]:
    """``(mask (size, size) bool, extent, stroke)`` of one image; an all-False mask for a blank image.

    ``extent``: ink bounding-box diagonal over the canvas diagonal (resize- and JPEG-proof).
    ``stroke``: mean stroke width (2 * area / perimeter) over the bounding box's longer side.
    """
    ink = ink_mask(gray)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    out = np.zeros((size, size), dtype=bool)
    if rows.size == 0:
        return out, 0.0, 0.0
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    extent = float(np.hypot(h / ink.shape[0], w / ink.shape[1]) / np.sqrt(2))
    perimeter = int((crop[1:] != crop[:-1]).sum() + (crop[:, 1:] != crop[:, :-1]).sum()) + 2 * (h + w)
    stroke = float(2.0 * crop.sum() / perimeter / max(h, w))
    scale = size / max(h, w)
    oh, ow = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    # max-pool each cell's source pixels (reduceat yields the single pixel when upscaling)
    pooled = np.logical_or.reduceat(
        np.logical_or.reduceat(crop, _starts(h, oh), axis=0), _starts(w, ow), axis=1
    )
    r0, c0 = (size - oh) // 2, (size - ow) // 2
    out[r0 : r0 + oh, c0 : c0 + ow] = pooled
    return out, extent, stroke


def geometry(
    gray: np.ndarray, shape: tuple[int, int] | None = None
) -> tuple[float, float, float, float, float, float]:
    """``(sx, sy, area, cx, cy, edge)`` of the ink: spread (standard deviation + 0.3) along x and y and
    pixel count, in pixels of the original ``shape`` (``gray.shape`` if None), the centroid as fractions
    of the canvas width and height, and 1.0 where ink touches the canvas border (a shift or crop may
    have cut some off); ``(0, 0, 0, 0.5, 0.5, 0)`` without ink.

    Resize scales them with the canvas and keeps ``cx, cy``; crop and shift keep them in pixels
    exactly, JPEG nearly, rotation and a 1 px stroke change within ~10 % (the verifier's gates).
    """
    ink = ink_mask(gray)
    ys, xs = np.nonzero(ink)
    if ys.size < 2:
        return 0.0, 0.0, 0.0, 0.5, 0.5, 0.0
    h, w = gray.shape
    edge = float(ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any())
    scale = (shape[1] / w) if shape else 1.0
    # + 0.3 px: a one-pixel-wide stroke has spread 0 across it, and a ratio of zeros says nothing
    sx, sy = (float(xs.std()) + 0.3) * scale, (float(ys.std()) + 0.3) * scale
    cx, cy = (float(xs.mean()) + 0.5) / w, (float(ys.mean()) + 0.5) / h
    return sx, sy, float(ys.size) * scale * scale, cx, cy, edge


def normalise_batch(
    grays: list[np.ndarray], *, size: int = 32, shapes: list[tuple[int, int]] | None = None
) -> dict[str, np.ndarray]:
    """``{"mask": (N, size, size) bool, "extent", "stroke", "sx", "sy", "area", "cx", "cy", "edge": (N,) float32}``.

    ``shapes``: each image's ``(H, W)`` before :func:`decode` reduced it (``sx, sy, area`` are in those pixels).
    """
    n = len(grays)
    mask = np.zeros((n, size, size), dtype=bool)
    out = {
        k: np.zeros(n, dtype=np.float32) for k in ("extent", "stroke", "sx", "sy", "area", "cx", "cy", "edge")
    }
    for i, g in enumerate(grays):
        mask[i], out["extent"][i], out["stroke"][i] = normalise(g, size=size)
        geo = geometry(g, shapes[i] if shapes else None)
        for k, v in zip(("sx", "sy", "area", "cx", "cy", "edge"), geo):
            out[k][i] = v
    return {"mask": mask, **out}


def pack(mask: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` bool → ``(N, ceil(S*S/8))`` uint8, the stored form (8 cells a byte)."""
    return np.packbits(mask.reshape(len(mask), -1), axis=1)


def unpack(packed: np.ndarray, size: int) -> np.ndarray:
    """``(N, S*S/8)`` uint8 → ``(N, S, S)`` bool."""
    return np.unpackbits(packed, axis=1, count=size * size).reshape(len(packed), size, size).astype(bool)
