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
