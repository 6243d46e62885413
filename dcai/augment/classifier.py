"""Classifiers for the validity check of crops and compositions, trained on the run's own labels.

``augment.classifier: "dcai.augment.classifier:lenet"`` in a config makes the augment stage train
one before it derives images: a LeNet-5 at twice its channels (one of the vote's five
architectures) on the active ``train`` rows and ``label_book``, with the paper's heavy augmentation,
best epoch by accuracy on ``val``. A crop or composition is kept only when this model reads the
label it should carry. ``"dcai.augment.classifier:allconv"`` trains the stronger AllConvNet instead.

Why LeNet by default: the check needs a reader that is right on clean strokes more often than the
data is, and cheap enough to train inside the stage on a laptop. Measured on 2 CPU cores at batch
32 (one epoch of 1,000 images, engine of dcai.train): LeNet-5 ×2 2,555 images/s, AllConvNet ×0.125
457, AllConvNet ×0.25 35, the fixed model at its official batch of 8 about 170. On a GPU all of
them are fast and ``allconv`` (the most accurate single vote member on the planted-noise benchmark)
is the better reader.
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
    member: str = "lenet5",
    width: float = 2.0,
    epochs: int = 20,
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


def lenet(table: pa.Table, *, classes: Sequence[str]) -> Classify:
    """The default validity classifier (``"dcai.augment.classifier:lenet"``), see the module doc."""
    return train_member(table, classes=classes)


def allconv(table: pa.Table, *, classes: Sequence[str]) -> Classify:
    """AllConvNet at a quarter of its channels, 15 epochs: the better reader where a GPU trains it."""
    return train_member(table, classes=classes, member="allconv", width=0.25, epochs=15)


def lenet_tiny(table: pa.Table, *, classes: Sequence[str]) -> Classify:
    """Two epochs of the default model: for tests on tiny data, not for real data."""
    return train_member(table, classes=classes, epochs=2)
