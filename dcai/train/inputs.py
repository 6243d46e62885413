"""What a label stage (investigate, vote) trains on: the manifest rows it works on and their model inputs
``(N, size, size, 3)`` float32, decoded once and cached in the run (``RUN/cache``) as evaluate does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest, storage


def subset(table: pa.Table, splits: tuple[str, ...]) -> np.ndarray:
    """Indices of the rows a label stage works on: the chosen splits plus trusted rows, all labelled."""
    split = manifest.column(table, "split")
    trusted = np.array([bool(v) for v in table.column("trusted").to_pylist()], dtype=bool)
    labelled = np.array([v is not None for v in table.column("label").to_pylist()], dtype=bool)
    return np.flatnonzero(
        (np.isin(split, splits) | (trusted & ~np.isin(split, manifest.INACTIVE_SPLITS))) & labelled
    )


@dataclass(frozen=True)
class LabelRows:
    """The rows a label stage works on (:func:`subset`) as it reads them: ``rows`` index the table, ``sub``
    is those rows, ``holdout`` marks the held-out ones, ``y`` the given labels as indices of ``classes``,
    ``groups`` the duplicate groups (None before dedup)."""

    rows: np.ndarray
    sub: pa.Table
    holdout: np.ndarray
    classes: list[str]
    y: np.ndarray
    groups: np.ndarray | None


def label_rows(table: pa.Table, splits: tuple[str, ...], holdout_splits: tuple[str, ...]) -> LabelRows:
    """The rows of ``splits`` + ``holdout_splits`` (and trusted ones) with their labels as class indices."""
    rows = subset(table, splits + holdout_splits)
    sub = table.take(pa.array(rows, pa.int64()))
    classes = manifest.classes(sub)
    index = {c: i for i, c in enumerate(classes)}
    return LabelRows(
        rows=rows,
        sub=sub,
        holdout=np.isin(manifest.column(sub, "split"), holdout_splits),
        classes=classes,
        y=np.array([index[v] for v in manifest.column(sub, "label")], np.int64),
        groups=manifest.column(sub, "dup_group") if "dup_group" in sub.column_names else None,
    )


def load_inputs(run_dir: str | Path, sub: pa.Table, *, size: int, method: str = "tf") -> np.ndarray:
    """``(N, size, size, 3)`` float32 model inputs of the rows of ``sub``, cached in ``RUN/cache``;
    ``method``: the resize (:data:`dcai.models.inputs.RESIZE_METHODS`)."""
    from dcai.train.data import load_images

    hashes = manifest.column(sub, "content_hash").tolist()
    return load_images(
        manifest.column(sub, "uri").tolist(),
        hashes=hashes,
        size=size,
        method=method,
        cache_dir=storage.cache_dir(run_dir),
    )
