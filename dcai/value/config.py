"""Configuration of value: the cross-fitted models whose checkpoints TracIn reads, and the harmful flag."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.train.fitted import FittedConfig


@dataclass(frozen=True)
class ValueConfig(FittedConfig):
    folds: int = 3  # each fold's model is valued on its held-out validation images
    epochs: int = 12
    # TracIn's theory is a sum over the SGD steps each image took: training without augmentation keeps the
    # checkpoints' gradients those of the images as scored
    augment: str = "none"
    checkpoints: int = 4  # kept at evenly spaced epochs, the last one included
    # the held-out rows whose loss the training images are valued on; a fold with none of them uses all
    # its held-out rows
    validation_splits: tuple[str, ...] = ("val",)
    # value_harmful: negative influence and among this share of the valued images with the lowest influence
    harmful_share: float = 0.1

    PRESETS = {"tiny": {"folds": 2, "epochs": 2, "batch_size": 16, "checkpoints": 2}}

    def checkpoint_epochs(self) -> tuple[int, ...]:
        """The epochs after which the weights are kept, e.g. 12 epochs, 4 checkpoints: 3, 6, 9, 12."""
        n = min(self.checkpoints, self.epochs)
        return tuple(sorted({round(self.epochs * (i + 1) / n) for i in range(n)}))

    def __post_init__(self) -> None:
        self.check_training()
        self._check(self.checkpoints >= 1, f"checkpoints must be >= 1, got {self.checkpoints}")
        self._check(
            0.0 <= self.harmful_share <= 1.0, f"harmful_share must be in [0, 1], got {self.harmful_share}"
        )
