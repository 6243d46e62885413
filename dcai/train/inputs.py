"""What a label stage (investigate, vote) trains on: the manifest rows it works on and their model inputs
``(N, size, size, 3)`` float32, decoded once and cached in the run (``RUN/cache``) as evaluate does."""

from __future__ import annotations

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
