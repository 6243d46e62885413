"""What the GAN trains on and is scored against: the run's active train rows and its val split, decoded once.

``trial`` holds augment's view (parents at their own size, for the ordinary augmented images a search
trial is compared with); ``gray`` ``(N, 32, 32)`` the same train images as the generator's real data;
``index`` the dedup sketches of every active image a generated one must not copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dcai import imaging, manifest
from dcai import storage as storage_mod
from dcai.augment import validity
from dcai.config import ConfigError
from dcai.gan.sample import Index
from dcai.tune.trial import TrialData


@dataclass
class GanData:
    trial: TrialData  # classes, parents, x_train (N, 32, 32, 3), y_train, x_val, y_val
    index: Index  # sketches of the run's active images (the dedup check)
    classify: validity.Classify | None = None  # the validity classifier, set once trained
    classifier_state: dict | None = None  # the frozen fixed model's weights, set once trained
    classifier_val_acc: float = float("nan")

    @property
    def gray(self) -> np.ndarray:
        return self.trial.x_train[..., 0]

    @property
    def classes(self) -> list[str]:
        return self.trial.classes


def load(table: pa.Table, *, run_dir: storage_mod.AnyPath) -> GanData:
    """The run's active ``train`` rows (every origin: the run's current data) and ``val`` rows."""
    act = manifest.active(table)
    split = manifest.column(act, "split")
    train = act.filter(pa.array(split == manifest.TRAIN))
    val = act.filter(pa.array(split == manifest.VAL))
    if train.num_rows == 0:
        raise ConfigError(f"{run_dir}: the gan stage needs active train rows, found none")
    classes = manifest.classes(table)
    trial = TrialData.from_tables(train, val, classes=classes, run_dir=run_dir)
    index = Index.of(imaging.read_many([str(u) for u in manifest.column(act, "uri")]))
    return GanData(trial, index)
