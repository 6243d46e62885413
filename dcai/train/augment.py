"""The paper's heavy augmentation as batched torch ops, on the CPU or the GPU.

Each op maps ``(B, C, H, W)`` uint8 or float pixels in [0, 255] to a batch of the same shape and
dtype, drawing its randomness from ``generator`` (``None``: torch's default one; a ``torch.Generator``
on the batch's device otherwise). Nothing here reads a tensor back to the host, so the ops run
inside a CUDA graph. From the paper (seeds/004, step 2): "random rotation with a factor of 0.05,
random contrast change with a factor of 0.5, random translation with a range of 20% of image
dimensions, random pen-stroke like black spots, random white spots, and finally random dashed lines
with various lengths and orientations". Factors follow Keras' preprocessing layers: rotation
``factor`` is a fraction of a full turn (0.05 → ±18°), contrast ``factor`` f scales deviations from
each channel's mean by a factor drawn from [1 - f, 1 + f], translation is a fraction of the side;
borders are filled by reflection, Keras' default ``fill_mode``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _u(shape, lo, hi, like: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """Uniform draws in [lo, hi) on ``like`` 's device."""
    return torch.rand(shape, generator=g, device=like.device) * (hi - lo) + lo


def _float(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype != torch.float32 else x


def _back(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    y = y.clamp(0.0, 255.0)
    return y.round().to(torch.uint8) if dtype == torch.uint8 else y.to(dtype)


def _grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [0, 1): ``(H, W)`` rows ``yy`` and columns ``xx``."""
    h, w = x.shape[-2:]
    ys = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return yy, xx


def affine(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    rotation: float = 0.05,
    translation: float = 0.2,
) -> torch.Tensor:
    """Random rotation (±``rotation`` × 2π) and translation (±``translation`` × side), one resample."""
    b = x.shape[0]
    angle = _u(b, -rotation, rotation, x, generator) * 2 * math.pi
    shift = _u((b, 2), -translation, translation, x, generator) * 2  # grid units: the side is 2 long
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(_float(x), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _back(y, x.dtype)


def rotate(
    x: torch.Tensor, generator: torch.Generator | None = None, *, factor: float = 0.05
) -> torch.Tensor:
    """Keras ``RandomRotation(factor)``: an angle uniform in ±factor × 2π about the centre."""
    return affine(x, generator, rotation=factor, translation=0.0)


def translate(
    x: torch.Tensor, generator: torch.Generator | None = None, *, factor: float = 0.2
) -> torch.Tensor:
    """Keras ``RandomTranslation(factor, factor)``: a shift uniform in ±factor of height and width."""
    return affine(x, generator, rotation=0.0, translation=factor)


def contrast(
    x: torch.Tensor, generator: torch.Generator | None = None, *, factor: float = 0.5
) -> torch.Tensor:
    """Keras ``RandomContrast(factor)``: ``(x - mean) * f + mean`` per image and channel, f in [1 ± factor]."""
    xf = _float(x)
    f = _u((x.shape[0], 1, 1, 1), 1 - factor, 1 + factor, x, generator)
    mean = xf.mean(dim=(2, 3), keepdim=True)
    return _back((xf - mean) * f + mean, x.dtype)


def spots(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    value: float = 0.0,
    p: float = 0.5,
    max_spots: int = 3,
    radius: tuple[float, float] = (0.02, 0.06),
) -> torch.Tensor:
    """Blots of colour ``value`` (0: pen-stroke-like black, 255: white): up to ``max_spots`` ellipses
    per image, each present with probability ``p``, radii a fraction of the side."""
    b = x.shape[0]
    yy, xx = _grid(x)
    centre = _u((b, max_spots, 2), 0.0, 1.0, x, generator)
    r = _u((b, max_spots, 2), radius[0], radius[1], x, generator)  # an ellipse: its own radius per axis
    on = _u((b, max_spots), 0.0, 1.0, x, generator) < p
    d = ((yy - centre[..., 0, None, None]) / r[..., 0, None, None]) ** 2 + (
        (xx - centre[..., 1, None, None]) / r[..., 1, None, None]
    ) ** 2  # (B, S, H, W)
    mask = ((d <= 1.0) & on[..., None, None]).any(dim=1, keepdim=True)
    return x.masked_fill(mask, value)  # a scalar fill: no host-to-device copy (CUDA graph capture)


def dashed_lines(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    value: float = 0.0,
    p: float = 0.5,
    max_lines: int = 2,
    length: tuple[float, float] = (0.2, 0.8),
    width: tuple[float, float] = (0.015, 0.04),
    dash: tuple[float, float] = (0.04, 0.12),
) -> torch.Tensor:
    """Dashed segments of colour ``value`` at random positions, angles and lengths (fractions of the
    side), dash period drawn from ``dash`` with half of each period inked; each present with ``p``."""
    b = x.shape[0]
    yy, xx = _grid(x)
    start = _u((b, max_lines, 2), 0.0, 1.0, x, generator)
    angle = _u((b, max_lines), 0.0, math.pi, x, generator)
    ln = _u((b, max_lines), length[0], length[1], x, generator)
    half_w = _u((b, max_lines), width[0], width[1], x, generator) / 2
    period = _u((b, max_lines), dash[0], dash[1], x, generator)
    on = _u((b, max_lines), 0.0, 1.0, x, generator) < p
    e = lambda t: t[..., None, None]  # noqa: E731  (B, L) -> (B, L, 1, 1)
    dy, dx = yy - e(start[..., 0]), xx - e(start[..., 1])
    along = dx * e(angle.cos()) + dy * e(angle.sin())  # distance along the segment from its start
    across = (dy * e(angle.cos()) - dx * e(angle.sin())).abs()
    inked = (
        (along >= 0)
        & (along <= e(ln))
        & (across <= e(half_w))
        & (torch.remainder(along, e(period)) < e(period) / 2)
    )
    mask = (inked & e(on)).any(dim=1, keepdim=True)
    return x.masked_fill(mask, value)  # a scalar fill: no host-to-device copy (CUDA graph capture)


def heavy(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    rotation: float = 0.05,
    contrast_factor: float = 0.5,
    translation: float = 0.2,
    black_spots: float = 0.5,
    white_spots: float = 0.5,
    lines: float = 0.5,
    ink: float = 0.0,
    paper: float = 255.0,
) -> torch.Tensor:
    """The paper's pipeline: rotation + translation, contrast, black spots, white spots, dashed lines.

    ``black_spots`` / ``white_spots`` / ``lines`` are the probabilities of each spot or line; ``ink`` and
    ``paper`` the colours of strokes and background (0 and 255 for dark numerals on white).
    """
    y = affine(x, generator, rotation=rotation, translation=translation)
    y = contrast(y, generator, factor=contrast_factor)
    y = spots(y, generator, value=ink, p=black_spots)
    y = spots(y, generator, value=paper, p=white_spots)
    return dashed_lines(y, generator, value=ink, p=lines)


def light(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    rotation: float = 0.05,
    contrast_factor: float = 0.5,
    translation: float = 0.2,
) -> torch.Tensor:
    """:func:`heavy` without its spots and lines: rotation + translation, contrast. About a tenth of its CPU
    time (the spots dominate): the views of embed's contrastive encoder on a CPU schedule."""
    return contrast(
        affine(x, generator, rotation=rotation, translation=translation), generator, factor=contrast_factor
    )


class Heavy:
    """:func:`heavy` with fixed options, as the engine's ``augment`` callable: ``Heavy(lines=0.3)``."""

    def __init__(self, **options):
        self.options = options

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return heavy(x, generator, **self.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


class Light(Heavy):
    """:func:`light` with fixed options, as the engine's ``augment`` callable."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return light(x, generator, **self.options)
