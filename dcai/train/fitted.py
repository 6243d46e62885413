"""What every stage that fits its own small cross-fitted models (embed, value) shares: the training
options of its config, and the ``fit`` it is handed (the local engine, or Ray Train in its pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dcai.config import StageConfig
from dcai.models.inputs import RESIZE_METHODS
from dcai.models.vote import VOTE_MEMBERS

# fit(model_fn, x, y, *, seeds, train_masks, epochs, **engine options) -> list[FitResult]: the signature
# of dcai.train.engine.fit; the pipelines pass one that runs on Ray Train (fit_many)
Fit = Callable[..., list]
ENGINES = ("auto", "train", "local")
AUGMENTS = ("heavy", "light", "none")


@dataclass(frozen=True)
class FittedConfig(StageConfig):
    model: str = "lenet5"  # a vote architecture (dcai.models.vote); its last layer gives the output
    width: float = 1.0  # channel multiplier (dcai.models.vote)
    folds: int = 5  # every image is scored by the one fold model that did not train on it
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    # "heavy" (the auxiliary models' augmentation, dcai.train.augment), "light" (its rotation, translation and
    # contrast only: a tenth of its CPU time) or "none"
    augment: str = "heavy"
    image_size: int = 32
    resize: str = "area"  # dcai.models.inputs.RESIZE_METHODS
    splits: tuple[str, ...] = ("train", "val")  # rows scored and trained on (trusted rows always train)
    # rows scored by every fold model but never trained on, nor used as anyone's evidence (a test set)
    holdout_splits: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"
    # "train": the fold models on one elastic Ray TorchTrainer (dcai.train.pipeline.fit_many), as the vote
    # fits; "local": the engine in this process; "auto": Ray Train when Ray is up (RAY_ADDRESS is set, or
    # this process already joined Ray), the local engine otherwise (no Ray start for a few small models).
    engine: str = "auto"
    folds_per_worker: int = 1  # engine "train": fold models per Ray Train spec (stacked on one device)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = -1.0  # -1: one GPU when the cluster has one when the stage starts, else 0

    def check_training(self) -> None:
        self._check(
            self.model in VOTE_MEMBERS, f"model must be one of {list(VOTE_MEMBERS)}, got {self.model!r}"
        )
        self._check(self.width > 0, f"width must be > 0, got {self.width}")
        self._check(self.folds >= 2, f"folds must be >= 2 (out-of-fold scores), got {self.folds}")
        self._check(self.epochs >= 1 and self.batch_size >= 2, "epochs must be >= 1 and batch_size >= 2")
        self._check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        self._check(
            self.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}"
        )
        self._check(
            self.resize in RESIZE_METHODS,
            f"resize must be one of {list(RESIZE_METHODS)}, got {self.resize!r}",
        )
        self._check(bool(self.splits), "splits must name at least one split")
        self._check(not set(self.splits) & set(self.holdout_splits), "holdout_splits must not overlap splits")
        self._check(
            self.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}"
        )
        self._check(1 <= self.folds_per_worker, f"folds_per_worker must be >= 1, got {self.folds_per_worker}")
        self._check(self.cpus_per_worker > 0, f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
