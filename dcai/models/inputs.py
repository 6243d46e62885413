"""Images into the fixed model the way the official script loads them: ``(size, size, 3)`` float32.

``tf.keras.preprocessing.image_dataset_from_directory(image_size=(32, 32))`` decodes each file
with ``channels=3`` (grayscale repeated to RGB), then calls ``tf.image.resize(method="bilinear")``
with its defaults, ``antialias=False`` and half-pixel centres: output pixel i samples the input at
``(i + 0.5) * in / out - 0.5``, clamped to the image, from the two nearest pixels per axis. When
shrinking a 600 px scan to 32 px that reads only 2×2 source pixels per output pixel (aliasing,
faithfully kept). ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
antialias=False)`` computes exactly this. The result stays float32 (fractional values are not
rounded back to uint8) and its aspect ratio is not kept, as in the script.

One deliberate difference: :func:`dcai.imaging.load` composites a transparent image on white, while
TF's ``decode_image(channels=3)`` drops the alpha channel. The competition's images are all opaque
grayscale, so both read them the same.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dcai import imaging

SIZE = 32
# How an image is brought to the input size. "tf": the official script's aliased bilinear (above); the
# fixed model keeps it, since its figures are the competition's. "area": every output pixel averages the
# input pixels it covers (antialiased), so a 2 px stroke of a 250 px scan still shows at 32 px; dcai's own
# models (the vote members) may use it, see VoteConfig.resize.
RESIZE_METHODS = ("tf", "area")


def resize_batch(x: torch.Tensor, size: int | tuple[int, int] = SIZE, method: str = "tf") -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, size, size)`` float32: TF's bilinear resize, no antialias (``"tf"``),
    or the area average (``"area"``; an image smaller than ``size`` is scaled up bilinearly)."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize method must be one of {list(RESIZE_METHODS)}, got {method!r}")
    if method == "area" and x.shape[-2] >= hw[0] and x.shape[-1] >= hw[1]:
        return F.interpolate(x.float(), size=hw, mode="area")
    return F.interpolate(x.float(), size=hw, mode="bilinear", align_corners=False, antialias=method == "area")


def resize(pixels: np.ndarray, size: int | tuple[int, int] = SIZE, method: str = "tf") -> np.ndarray:
    """One image ``(H, W)`` or ``(H, W, C)`` → ``(size, size, 3)`` float32 (grayscale repeated to RGB)."""
    rgb = imaging.to_rgb(np.asarray(pixels))
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    return resize_batch(t, size, method)[0].permute(1, 2, 0).contiguous().numpy()


def load(uri: str, size: int | tuple[int, int] = SIZE, method: str = "tf") -> np.ndarray:
    """Decode ``uri`` (any path or ``pyarrow.fs`` URI) and resize it: ``(size, size, 3)`` float32."""
    return resize(imaging.load(uri), size, method)
