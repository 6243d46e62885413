"""Builders of small on-disk datasets for tests: good images, and a folder of planted bad files."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def draw_numeral(label: str, *, size: int = 40, seed: int = 0) -> np.ndarray:
    """A crude grayscale (H, W) numeral: one vertical bar per 'i', a chevron per 'v', a cross per 'x'."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 255, np.uint8)
    glyphs = max(1, len(label))
    w = size // (glyphs + 1)
    off = int(rng.integers(0, 3))
    for g, ch in enumerate(label):
        x = (g + 1) * w - w // 2 + off
        if ch == "i":
            img[6 : size - 6, x : x + 2] = 0
        elif ch == "v":
            for y in range(6, size - 6):
                dx = (size - 6 - y) * w // (2 * size)
                img[y, max(0, x - dx) : max(0, x - dx) + 2] = 0
                img[y, min(size - 2, x + dx) : min(size - 2, x + dx) + 2] = 0
        else:  # x
            for y in range(6, size - 6):
                dx = (y - size // 2) * w // size
                img[y, max(0, x + dx) : max(0, x + dx) + 2] = 0
                img[y, max(0, x - dx) : max(0, x - dx) + 2] = 0
    return img


def save_png(pixels: np.ndarray, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kw)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header declaring ``width x height`` 1-bit pixels over a few hundred bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def make_good(
    root: Path, *, classes=("i", "ii", "v"), per_class: int = 3, split: str | None = None
) -> list[Path]:
    out = []
    for c in classes:
        for k in range(per_class):
            folder = root / split / c if split else root / c
            out.append(save_png(draw_numeral(c, seed=k), folder / f"{c}_{k}.png"))
    return out


def make_bad_folder(root: Path) -> dict[str, str]:
    """Good images plus one of each planted problem in ``root/<class>/``.
    Returns ``{file name: expected outcome}`` where the outcome is a quarantine-reason or note fragment."""
    make_good(root)
    d = root / "ii"
    good = io.BytesIO()
    Image.fromarray(draw_numeral("ii")).save(good, format="PNG")
    data = good.getvalue()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    (d / "text.png").write_text("this is not an image\n")
    (d / "empty.png").write_bytes(b"")
    (d / "bomb.png").write_bytes(bomb_png())
    os.symlink(d / "does-not-exist.png", d / "dangling.png")
    sixteen = draw_numeral("ii").astype(np.uint16) * 257
    Image.fromarray(sixteen.astype("<u2")).save(d / "sixteen.png")  # uint16 → mode I;16
    rgb = np.repeat(draw_numeral("ii")[..., None], 3, axis=2)
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg", quality=95)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(d / "rgba.png")
    Image.fromarray(rgb).convert("P").save(d / "palette.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(d / "rotated.jpg", exif=exif.tobytes())
    frames = [Image.fromarray(draw_numeral("ii", seed=s)) for s in range(3)]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:])
    return {
        "truncated.png": "truncated",
        "text.png": "not an image",
        "empty.png": "zero bytes",
        "bomb.png": "decompression bomb",
        "dangling.png": "broken symlink",
        "sixteen.png": "16-bit",
        "cmyk.jpg": "CMYK",
        "rgba.png": "alpha channel",
        "palette.png": "palette",
        "rotated.jpg": "EXIF orientation 6",
        "animated.gif": "animated (3 frames)",
    }


QUARANTINED = {"truncated.png", "text.png", "empty.png", "bomb.png", "dangling.png"}
