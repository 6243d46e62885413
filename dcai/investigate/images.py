"""Manifest rows as model inputs: a batch of ``uri`` s → ``(B, S, S, 3)`` float32 RGB pixels in [0, 255].

The same resize as the competition's pipeline (bilinear, half-pixel centres, no antialias, not
rounded back to integers), so the auxiliary and vote models see what the fixed model sees.
"""

from __future__ import annotations

import numpy as np


def to_input(pixels: np.ndarray, size: int) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` uint8 → ``(size, size, 3)`` float32."""
    import torch
    import torch.nn.functional as F

    from dcai.imaging import to_rgb

    t = torch.from_numpy(np.ascontiguousarray(to_rgb(pixels))).permute(2, 0, 1)[None].float()
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return out[0].permute(1, 2, 0).numpy()


def load_batch(batch: dict[str, np.ndarray], *, size: int) -> dict[str, np.ndarray]:
    """Ray Data batch ``{"uri": (B,), "row": (B,)}`` → ``{"row": (B,), "pixels": (B, size, size, 3)}``."""
    from dcai.imaging import load

    pixels = np.stack([to_input(load(str(u)), size) for u in batch["uri"]]) if len(batch["uri"]) else None
    if pixels is None:
        pixels = np.zeros((0, size, size, 3), np.float32)
    return {"row": np.asarray(batch["row"]), "pixels": pixels}


def load_local(uris: list[str], *, size: int) -> np.ndarray:
    """All images in this process: ``(N, size, size, 3)`` float32 (small runs and tests)."""
    return load_batch({"uri": np.asarray(uris, dtype=object), "row": np.arange(len(uris))}, size=size)[
        "pixels"
    ]
