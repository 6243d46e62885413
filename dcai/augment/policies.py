"""Random augmentation policies on one ``(H, W[, 3])`` uint8 image: SVHN AutoAugment and the paper's heavy one.

Both fill uncovered pixels with the image's own background, so a rotated numeral gets no black corners.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from dcai.augment.geometry import background
from dcai.config import ConfigError
from dcai.imaging import to_gray

Policy = list[tuple[tuple[str, float, int | None], ...]]
NUM_BINS = 10  # torchvision's AutoAugment magnitude bins


def _chw(image: np.ndarray):
    """``(H, W[, C])`` numpy → ``(C, H, W)`` torch uint8, copied (decoded images are read-only)."""
    import torch

    return torch.from_numpy(np.array(image if image.ndim == 3 else image[..., None], copy=True)).permute(
        2, 0, 1
    )


def svhn_policy(
    *, drop: Sequence[str] = ("Solarize", "Invert"), prob_scale: float = 1.0, magnitude_scale: float = 1.0
) -> Policy:
    """torchvision's SVHN sub-policies with the ``drop`` ops removed.

    How it differs from the published policy: each named op is taken out of its sub-policy and not
    replaced, so a sub-policy such as (Invert 0.9, Equalize 0.6) becomes (Equalize 0.6); a sub-policy
    left empty is dropped (none is, for the default drop list: all 25 remain, 17 of them with one op).
    ``prob_scale`` multiplies each op's probability (capped at 1) and ``magnitude_scale`` its magnitude
    bin (clipped to 0..9): the knobs a policy search turns.
    """
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy

    out: Policy = []
    for sub in AutoAugment(AutoAugmentPolicy.SVHN).policies:
        kept = tuple(
            (
                name,
                min(1.0, p * prob_scale),
                None if m is None else int(np.clip(round(m * magnitude_scale), 0, NUM_BINS - 1)),
            )
            for name, p, m in sub
            if name not in drop
        )
        if kept:
            out.append(kept)
    return out


@functools.cache
def _autoaugment_class():
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy, InterpolationMode

    class FilteredSVHN(AutoAugment):
        """AutoAugment running a given list of (possibly one-op) SVHN sub-policies."""

        def __init__(self, policies: Policy, fill: list[float]):
            super().__init__(AutoAugmentPolicy.SVHN, interpolation=InterpolationMode.BILINEAR, fill=fill)
            self.policies = policies

    return FilteredSVHN


def autoaugment(image: np.ndarray, *, policy: Policy, seed: int) -> np.ndarray:
    """One random draw of ``policy`` on one image; the same ``seed`` gives the same image."""
    import torch

    chw = _chw(image)
    bg = float(background(to_gray(image)))
    transform = _autoaugment_class()(policy, fill=[bg] * chw.shape[0])
    # torchvision draws from the global generator: fork it so tasks stay reproducible and independent.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = transform(chw)
    out = out.permute(1, 2, 0).contiguous().numpy()
    return out if image.ndim == 3 else out[..., 0]


def require_heavy() -> None:
    """Raise a :class:`ConfigError` naming the fix when the training engine's augmentation is absent."""
    try:
        from dcai.train.augment import heavy as _  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"augment: the 'heavy' source needs the training engine's dcai.train.augment ({e}); set sources.heavy=0"
        ) from e


def heavy(image: np.ndarray, *, copies: int, seed: int, options: dict[str, Any] | None = None) -> np.ndarray:
    """``copies`` draws of the paper's heavy augmentation of one image → ``(copies, H, W[, 3])``.

    The augmentation itself is the training engine's (:func:`dcai.train.augment.heavy`, batched torch
    ops on ``(N, C, H, W)`` uint8); this stacks the copies, seeds the draw and, unless ``options`` say
    otherwise, takes the paper colour from the image's background and ink as its opposite.
    """
    import torch

    require_heavy()
    from dcai.train.augment import heavy as heavy_ops

    paper = float(background(to_gray(image)))
    opts = {"paper": paper, "ink": 0.0 if paper >= 128 else 255.0, **(options or {})}
    batch = _chw(image)[None].expand(copies, -1, -1, -1).contiguous()
    drawn = (
        heavy_ops(batch, torch.Generator().manual_seed(seed), **opts).permute(0, 2, 3, 1).contiguous().numpy()
    )
    return drawn if image.ndim == 3 else drawn[..., 0]


# Plain random affine copies (the naive baseline's transform, bench/baselines.AFFINE): a small turn,
# shift, zoom and shear. "elastic" adds a smooth random warp of the strokes, the classic augmentation of
# handwriting (Simard et al. 2003): a coarse grid of random displacements, upsampled, so the warp is the
# same fraction of the image at any resolution.
AFFINE_DEFAULTS: dict[str, float] = {"degrees": 10.0, "translate": 0.1, "scale": 0.1, "shear": 5.0}
ELASTIC_GRID = 4


def warp(
    image: np.ndarray, *, seed: int, elastic: float = 0.0, options: dict[str, Any] | None = None
) -> np.ndarray:
    """One random affine (``options`` over :data:`AFFINE_DEFAULTS`) plus, with ``elastic`` > 0, a smooth
    displacement of that standard deviation (a fraction of the side); bilinear, background fill."""
    import torch
    import torch.nn.functional as F

    o = {**AFFINE_DEFAULTS, **(options or {})}
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(rng.uniform(-o["degrees"], o["degrees"]))
    shear = np.deg2rad(rng.uniform(-o["shear"], o["shear"]))
    zoom = rng.uniform(1.0 - o["scale"], 1.0 + o["scale"])
    tx, ty = rng.uniform(-o["translate"], o["translate"], 2) * 2  # grid units: the side is 2 long
    c, si = np.cos(angle), np.sin(angle)
    # output -> input coordinates: rotate, shear along x, scale by 1/zoom, shift
    a = np.array([[c, -si], [si, c]]) @ np.array([[1.0, np.tan(shear)], [0.0, 1.0]]) / zoom
    theta = torch.tensor([[[a[0, 0], a[0, 1], tx], [a[1, 0], a[1, 1], ty]]], dtype=torch.float32)
    chw = _chw(image).float()[None]  # (1, C, H, W)
    h, w = chw.shape[-2:]
    grid = F.affine_grid(theta, [1, 1, h, w], align_corners=False)
    if elastic > 0:
        coarse = torch.from_numpy(
            rng.normal(0.0, elastic * 2, (1, 2, ELASTIC_GRID, ELASTIC_GRID)).astype(np.float32)
        )
        field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1)
    bg = float(background(to_gray(image)))
    warped = F.grid_sample(chw - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + bg
    out: np.ndarray = warped[0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return out if image.ndim == 3 else out[..., 0]
