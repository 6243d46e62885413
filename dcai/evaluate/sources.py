"""What evaluate trains and scores on: image lists per role (train, val, tests) from a manifest or folders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.errors import InputError
from dcai.imaging import IMAGE_SUFFIXES
from dcai.ingest.scan import scan


@dataclass
class ImageList:
    """``N`` images: where they are, their class names and (when known) content hashes."""

    name: str
    uris: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    hashes: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.uris)


def from_manifest(table: pa.Table, *, train_splits, val_splits, test_splits, source: str = "manifest"):
    """``(train, val, {test split: list})`` from the active rows of a manifest."""
    table = manifest.active(table)
    splits = manifest.column(table, "split")
    uris, labels = manifest.column(table, "uri"), manifest.column(table, "label")
    hashes = manifest.column(table, "content_hash")

    def pick(name: str, wanted) -> ImageList:
        idx = np.flatnonzero(np.isin(splits, list(wanted)))
        return ImageList(
            name,
            [str(uris[i]) for i in idx],
            [str(labels[i]) for i in idx],
            [hashes[i] if isinstance(hashes[i], str) else None for i in idx],
        )

    train, val = pick("train", train_splits), pick("val", val_splits)
    tests = {s: pick(s, [s]) for s in test_splits if s not in train_splits and s not in val_splits}
    _require(train, val, source, f"splits {list(train_splits)} / {list(val_splits)}")
    return train, val, {k: v for k, v in tests.items() if len(v)}


def _images(records: list[dict]) -> list[dict]:
    return [r for r in records if r["uri"].lower().endswith(IMAGE_SUFFIXES)]


def from_folders(data_dir: str | os.PathLike, *, train_splits, val_splits, test_splits):
    """``(train, val, tests)`` from ``DIR/<split>/<class>/*`` (e.g. an export: ``train/``, ``val/``)."""
    records, layout = scan(data_dir)
    if layout["layout"] != "split/class":
        raise InputError(
            f"{data_dir}: --data expects DIR/train/<class>/* and DIR/val/<class>/* "
            f"(found {layout['layout']} folders)"
        )
    records = _images(records)

    def pick(name: str, wanted) -> ImageList:
        rows = [r for r in records if r["source_split"] in wanted]
        return ImageList(name, [r["uri"] for r in rows], [r["label"] for r in rows], [None] * len(rows))

    train, val = pick("train", train_splits), pick("val", val_splits)
    _require(train, val, str(data_dir), f"folders {list(train_splits)} / {list(val_splits)}")
    tests = {s: pick(s, [s]) for s in test_splits if s not in train_splits and s not in val_splits}
    return train, val, {k: v for k, v in tests.items() if len(v)}


def test_folder(test_dir: str | os.PathLike) -> ImageList:
    """Any class-folder test set, ``DIR/<class>/*`` (e.g. the label book or a held-out set)."""
    records = _images(scan(test_dir)[0])
    if not records:
        raise InputError(f"{test_dir}: no images found in class folders")
    return ImageList(
        Path(test_dir).name or "test",
        [r["uri"] for r in records],
        [r["label"] for r in records],
        [None] * len(records),
    )


def _require(train: ImageList, val: ImageList, source: str, what: str) -> None:
    if not len(train):
        raise InputError(f"{source}: no training images ({what})")
    if not len(val):
        raise InputError(f"{source}: no validation images ({what}); the fixed model keeps its best-val epoch")


def classes(train: ImageList, val: ImageList) -> list[str]:
    """Sorted class names seen in train or val: the model's output order."""
    return sorted(set(train.labels) | set(val.labels))


def encode(images: ImageList, names: list[str]) -> np.ndarray:
    """Class names → indices ``(N,)`` int64; a label the model never saw is an error naming it."""
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(images.labels) - set(index))
    if unknown:
        raise InputError(f"{images.name}: label(s) {unknown} are not among the trained classes {names}")
    return np.array([index[c] for c in images.labels], dtype=np.int64)
