"""Classifiers for the validity check of crops and compositions, trained on the run's own labels.

``augment.classifier: "dcai.augment.classifier:allconv"`` in a config makes the augment stage train
one before it derives images: an AllConvNet (one of the vote's five architectures) on the active
``train`` rows and ``label_book``, with the paper's heavy augmentation, best epoch by accuracy on
``val``. A crop or composition is kept only when this model reads the label it should carry.

Why this model: the check needs a reader that is right on clean strokes more often than the data
is, and cheap enough to train inside the stage. On the synthetic planted-noise benchmark
(bench/labels.py) AllConvNet at a quarter width was the most accurate single vote member (0.82
out of fold on 20 % mislabels), and at batch 32 it trains several times faster on a CPU than the
fixed model at its official batch of 8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.augment.validity import Classify, from_engine
from dcai.config import ConfigError

TRAIN_SPLITS = ("train", "label_book")
VAL_SPLITS = ("val",)


def _rows(table: pa.Table, splits: Sequence[str], classes: Sequence[str]) -> tuple[list, list, np.ndarray]:
    split = manifest.column(table, "split")
    label = manifest.column(table, "label")
    pick = np.isin(split, list(splits)) & np.isin(label, list(classes))
    index = {c: i for i, c in enumerate(classes)}
    uris = list(manifest.column(table, "uri")[pick])
    hashes = list(manifest.column(table, "content_hash")[pick])
    return uris, hashes, np.array([index[c] for c in label[pick]], dtype=np.int64)


def train_member(
    table: pa.Table,
    *,
    classes: Sequence[str],
    member: str = "allconv",
    width: float = 0.25,
    epochs: int = 15,
    seeds: Sequence[int] = (0,),
    batch_size: int = 32,
    lr: float = 1e-3,
    device: str = "auto",
    cache_dir: str | None = None,
) -> Classify:
    """Train ``member`` on the manifest's train rows and return its ``classify`` (mean over ``seeds``)."""
    from dcai.models.vote import model_fn
    from dcai.train.augment import heavy
    from dcai.train.data import load_images
    from dcai.train.engine import fit

    uris, hashes, y = _rows(table, TRAIN_SPLITS, classes)
    if len(uris) < len(classes):
        raise ConfigError(
            f"the validity classifier needs training images: found {len(uris)} active rows in "
            f"{list(TRAIN_SPLITS)} for {len(classes)} classes"
        )
    vuris, vhashes, yv = _rows(table, VAL_SPLITS, classes)
    x = load_images(uris, hashes=hashes, size=32, cache_dir=cache_dir)
    xv = load_images(vuris, hashes=vhashes, size=32, cache_dir=cache_dir) if vuris else None
    fn = model_fn(member, len(classes), width=width)
    results = fit(
        fn, x, y, xv, yv if vuris else None,
        epochs=epochs, seeds=list(seeds), batch_size=batch_size, lr=lr, augment=heavy,
        keep_best=bool(vuris), device=device,
    )  # fmt: skip
    return from_engine(fn, [r.state_dict for r in results], device=device)


def allconv(table: pa.Table, *, classes: Sequence[str]) -> Classify:
    """The default validity classifier (``"dcai.augment.classifier:allconv"``), see the module doc."""
    return train_member(table, classes=classes)


def allconv_tiny(table: pa.Table, *, classes: Sequence[str]) -> Classify:
    """A few epochs of the same model: for tests and the ``tiny`` preset, not for real data."""
    return train_member(table, classes=classes, epochs=2, width=0.125)
