"""Class-aware mirroring: flip ``(H, W[, C])`` images along an axis and map the label through a table.

The table is ``{axis: {class: class after the flip}}`` with axis ``lr`` (left-right) or ``ud``
(up-down). A class absent from an axis's table is never flipped along that axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dcai.errors import InputError

MirrorMap = Mapping[str, Mapping[str, str]]
_ARRAY_AXIS = {"lr": 1, "ud": 0}  # axis of an (H, W[, C]) image


class ForbiddenFlip(InputError):
    """A flip the mirror map does not allow for that class (e.g. ``vii`` left-right)."""


def target(label: str, axis: str, mirror_map: MirrorMap) -> str | None:
    """The class a ``label`` image becomes when flipped along ``axis``; None if the flip is not allowed."""
    if axis not in _ARRAY_AXIS:
        raise ForbiddenFlip(f"unknown mirror axis {axis!r}; allowed: {sorted(_ARRAY_AXIS)}")
    return mirror_map.get(axis, {}).get(label)


def allowed(labels: Sequence[str] | np.ndarray, axis: str, mirror_map: MirrorMap) -> np.ndarray:
    """``(N,)`` bool: which labels may be flipped along ``axis``."""
    table = mirror_map.get(axis, {})
    return np.array([lab in table for lab in labels], dtype=bool)


def flip(image: np.ndarray, axis: str) -> np.ndarray:
    """One ``(H, W[, C])`` image flipped along ``axis`` (``lr`` or ``ud``); a contiguous copy."""
    if axis not in _ARRAY_AXIS:
        raise ForbiddenFlip(f"unknown mirror axis {axis!r}; allowed: {sorted(_ARRAY_AXIS)}")
    return np.ascontiguousarray(np.flip(image, axis=_ARRAY_AXIS[axis]))


def mirror(image: np.ndarray, label: str, axis: str, mirror_map: MirrorMap) -> tuple[np.ndarray, str]:
    """Flip one image and map its label; raises :class:`ForbiddenFlip` when the map forbids it."""
    new = target(label, axis, mirror_map)
    if new is None:
        allowed_classes = sorted(mirror_map.get(axis, {}))
        raise ForbiddenFlip(
            f"class {label!r} may not be flipped {axis}: the mirror map allows {allowed_classes}"
        )
    return flip(image, axis), new


def mirror_batch(
    images: np.ndarray, labels: Sequence[str], axis: str, mirror_map: MirrorMap, *, strict: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip a ``(N, H, W[, C])`` batch along ``axis``; returns ``(images, new labels, kept mask)``.

    ``strict=True`` raises :class:`ForbiddenFlip` if any label may not be flipped; with
    ``strict=False`` those rows are dropped and the mask says which were kept.
    """
    labs = np.asarray(labels, dtype=np.object_)
    if images.shape[0] != labs.shape[0]:
        raise ValueError(f"{images.shape[0]} images for {labs.shape[0]} labels")
    ok = allowed(labs, axis, mirror_map)
    if strict and not ok.all():
        bad = sorted(set(labs[~ok]))
        raise ForbiddenFlip(
            f"class(es) {bad} may not be flipped {axis}: the mirror map allows {sorted(mirror_map.get(axis, {}))}"
        )
    table = mirror_map.get(axis, {})
    flipped = np.flip(images[ok], axis=_ARRAY_AXIS[axis] + 1)
    new_labels = np.array([table[lab] for lab in labs[ok]], dtype=np.object_)
    return np.ascontiguousarray(flipped), new_labels, ok
