"""Ink, crops and resizing on single ``(H, W)`` / ``(H, W, 3)`` uint8 images and ``(N, S, S[, 3])`` batches.

Ink is whatever differs from the background, the median of the border pixels, so dark-on-light and
light-on-dark images both work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcai import imaging

CROP_ORIGINS = {"tl": (0.0, 0.0), "tr": (0.0, 1.0), "bl": (1.0, 0.0), "br": (1.0, 1.0), "c": (0.5, 0.5)}


def background(gray: np.ndarray) -> int:
    """The background level of a ``(H, W)`` image: the median of its one-pixel border."""
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return int(np.median(border))


def ink_mask(image: np.ndarray, *, delta: int = 64) -> np.ndarray:
    """``(H, W)`` bool: pixels differing from the background by more than ``delta``."""
    gray = imaging.to_gray(image)
    return np.abs(gray.astype(np.int16) - background(gray)) > delta


def ink_center(image: np.ndarray, *, delta: int = 64) -> tuple[float, float]:
    """``(row, col)`` centre of the ink: midpoint of the 2nd and 98th percentile of ink coordinates.

    Percentiles rather than the bbox so a stray dot at the edge does not drag the centre; the image
    centre when there is no ink.
    """
    mask = ink_mask(image, delta=delta)
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return (h - 1) / 2, (w - 1) / 2
    r = np.percentile(rows, [2, 98])
    c = np.percentile(cols, [2, 98])
    return float(r.mean()), float(c.mean())


def aspect_ratio(height: int | np.ndarray, width: int | np.ndarray) -> np.ndarray:
    """``max(w/h, h/w)`` per image (1 for a square)."""
    h = np.asarray(height, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    return np.maximum(w / h, h / w)


def needs_square(height, width, *, max_ratio: float) -> np.ndarray:
    """Which images the aspect-ratio rule crops: ratio strictly above ``max_ratio``."""
    return aspect_ratio(height, width) > max_ratio


def square_around_ink(image: np.ndarray, *, delta: int = 64) -> tuple[np.ndarray, tuple[int, int]]:
    """Square crop of the shorter side, slid along the longer side to centre the ink.

    Returns the crop and its top-left ``(row, col)`` in the parent.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    cy, cx = ink_center(image, delta=delta)
    top = int(np.clip(round(cy - side / 2), 0, h - side))
    left = int(np.clip(round(cx - side / 2), 0, w - side))
    return np.ascontiguousarray(image[top : top + side, left : left + side]), (top, left)


def crop_box(height: int, width: int, position: str, *, fraction: float) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a corner or centre crop covering ``fraction`` of each side."""
    if position not in CROP_ORIGINS:
        raise ValueError(f"unknown crop position {position!r}; allowed: {sorted(CROP_ORIGINS)}")
    ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))
    fy, fx = CROP_ORIGINS[position]
    return round(fy * (height - ch)), round(fx * (width - cw)), ch, cw


def five_crops(
    image: np.ndarray, *, fraction: float, positions: Sequence[str] = tuple(CROP_ORIGINS)
) -> list[np.ndarray]:
    """The corner and centre crops of one image, in ``positions`` order (views into ``image``)."""
    h, w = image.shape[:2]
    out = []
    for p in positions:
        top, left, ch, cw = crop_box(h, w, p, fraction=fraction)
        out.append(image[top : top + ch, left : left + cw])
    return out


def resize_batch(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Images of any sizes → ``(N, size, size)`` or ``(N, size, size, 3)`` uint8.

    Bilinear with half-pixel centres and no antialiasing, as the fixed model resizes its input
    (TensorFlow's ``image.resize``), so a classifier sees a crop the way it sees a training image.
    """
    import torch
    import torch.nn.functional as F

    if not images:
        return np.zeros((0, size, size), dtype=np.uint8)
    colour = any(im.ndim == 3 for im in images)
    out = []
    for im in images:
        x = torch.from_numpy(np.array(imaging.to_rgb(im) if colour else im[..., None], copy=True))
        x = x.permute(2, 0, 1)[None].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        out.append(y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
    batch = np.stack(out)
    return batch if colour else batch[..., 0]
