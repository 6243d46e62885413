"""Decode, validate and normalise images: bytes in, ``uint8`` arrays ``(H, W)`` or ``(H, W, 3)`` out.

:func:`decode` either returns a usable image with notes on what was converted (palette, alpha,
16-bit, CMYK, EXIF rotation, animation) or raises :class:`BadImage` with a reason naming the problem.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dcai.errors import InputError

DEFAULT_MAX_PIXELS = 50_000_000  # a 7,000 x 7,000 scan passes; a zip-bomb PNG of 20k x 20k does not
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class BadImage(InputError):
    """An image that cannot be used; ``str(e)`` is the quarantine reason."""


@dataclass
class Decoded:
    pixels: np.ndarray  # (H, W) for grayscale, (H, W, 3) for colour; uint8
    mode: str  # the source's PIL mode, e.g. "L", "P", "RGBA", "I;16", "CMYK"
    format: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def read_bytes(uri: str) -> bytes:
    """Bytes of a local path or any ``pyarrow.fs`` URI (``s3://``, ``gs://``, ``file://``)."""
    if "://" in uri and not uri.startswith("file://"):
        import pyarrow.fs as pafs

        fs, path = pafs.FileSystem.from_uri(uri)
        with fs.open_input_stream(path) as f:
            return f.read()
    return Path(uri.removeprefix("file://")).read_bytes()


def read_many(uris: list[str], *, threads: int = 8) -> list[bytes]:
    """:func:`read_bytes` of each URI, ``threads`` at a time: a cold disk or an object store answers each
    small file after a wait, which threads overlap (the reads release the GIL)."""
    if len(uris) < 2 or threads < 2:
        return [read_bytes(u) for u in uris]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(threads, len(uris))) as pool:
        return list(pool.map(read_bytes, uris))


def _kind(data: bytes) -> str:
    """What unrecognised bytes look like, without quoting them: a reason lands in report.json and the HTML
    report, and must never copy a file's contents (a CSV row can point at /etc/passwd)."""
    head = data[:4096]
    try:
        head.decode("utf-8")
        text = b"\x00" not in head
    except UnicodeDecodeError:
        text = False
    return f"{'text' if text else 'binary data'}, {len(data):,} bytes"


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode and normalise one image, or raise :class:`BadImage` with the reason."""
    if len(data) == 0:
        raise BadImage("zero bytes: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img: Image.Image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImage(f"not an image: no known image format ({_kind(data)})") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"decompression bomb: {e}") from None
    except Exception as e:
        raise BadImage(f"undecodable: {type(e).__name__}: {e}") from None
    w, h = img.size
    if w * h > max_pixels:
        raise BadImage(f"decompression bomb: {w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,}")
    if w == 0 or h == 0:
        raise BadImage(f"empty image: {w}x{h} pixels")
    notes: list[str] = []
    fmt, mode = img.format, img.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                img.seek(0)
                notes.append(f"animated ({n_frames} frames): first frame used")
            img.load()
            orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
            if orientation not in (0, 1):
                img = ImageOps.exif_transpose(img)
                notes.append(f"EXIF orientation {orientation} applied")
            pixels = _to_uint8(img, notes)
    except BadImage:
        raise
    except Image.DecompressionBombError as e:
        raise BadImage(f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImage(f"truncated or undecodable {fmt or 'image'}: {e}") from None
    return Decoded(pixels=pixels, mode=mode, format=fmt, notes=notes)


def _to_uint8(img: Image.Image, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode in ("L", "RGB"):
        return np.asarray(img, dtype=np.uint8)
    if mode == "1":
        notes.append("1-bit image converted to 8-bit grayscale")
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        notes.append(f"{'16' if top > 255 else '32'}-bit grayscale ({mode}) scaled to 8-bit")
        return np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
    if mode == "P":
        has_alpha = "transparency" in img.info
        notes.append("palette image converted" + (" (transparency composited on white)" if has_alpha else ""))
        img = img.convert("RGBA") if has_alpha else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return _maybe_gray(np.asarray(img, dtype=np.uint8))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        if not notes or "palette" not in notes[-1]:
            notes.append(f"alpha channel ({mode}) composited on white")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return _maybe_gray(np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8))
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    notes.append(f"mode {mode} converted to RGB")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _maybe_gray(rgb: np.ndarray) -> np.ndarray:
    """Keep a colour image whose three channels are equal as (H, W) grayscale."""
    if (
        rgb.ndim == 3
        and np.array_equal(rgb[..., 0], rgb[..., 1])
        and np.array_equal(rgb[..., 1], rgb[..., 2])
    ):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def load(uri: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Pixels of a (previously ingested) image, ``(H, W)`` or ``(H, W, 3)`` uint8."""
    try:
        return decode(read_bytes(uri), max_pixels=max_pixels).pixels
    except BadImage as e:
        raise BadImage(f"{uri}: {e}") from None


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` → ``(H, W, 3)``, grayscale repeated to three channels."""
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` → ``(H, W)`` by ITU-R 601 luma, the same weights as PIL's ``convert("L")``."""
    if pixels.ndim == 2:
        return pixels
    w = np.array([299, 587, 114], dtype=np.uint32)
    return ((pixels.astype(np.uint32) @ w + 500) // 1000).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_png(pixels: np.ndarray, folder: str | Path) -> tuple[str, str]:
    """Write a content-addressed PNG into ``folder`` (a local path or any ``pyarrow.fs`` URI); returns
    ``(path of the file, sha1 of the bytes)``."""
    import hashlib

    from dcai import storage

    data = encode_png(pixels)
    digest = hashlib.sha1(data).hexdigest()
    name = f"{digest[:20]}.png"
    if storage.is_uri(folder):
        dest = f"{str(folder).rstrip('/')}/{name}"
        storage.write_file(dest, data)  # same name, same bytes: rewriting is harmless
        return dest, digest
    path = Path(folder) / name
    if not path.exists():
        storage.write_file(str(path), data)
    return str(path), digest


def thumbnail_png(pixels: np.ndarray, size: int = 64) -> bytes:
    img = Image.fromarray(pixels)
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
