"""Configuration of the split stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig


@dataclass(frozen=True)
class SplitConfig(StageConfig):
    n_folds: int = 8  # the paper's N for the Roman numerals
    val_fold: int = 0  # the fold that becomes val; the others are train
    test_fraction: float = 0.0  # share of the pool drawn at random (by family) into test; 0 = none
    pool_splits: tuple[str, ...] = ("train", "val")  # the rows that are re-split
    group_column: str = "dup_group"  # rows sharing a value here are one group (ignored if absent)
    seed: int = 0

    PRESETS = {"tiny": {"n_folds": 4}}

    def __post_init__(self) -> None:
        self._check(self.n_folds >= 2, f"n_folds must be >= 2, got {self.n_folds}")
        self._check(
            0 <= self.val_fold < self.n_folds,
            f"val_fold must be in 0..{self.n_folds - 1}, got {self.val_fold}",
        )
        self._check(
            0.0 <= self.test_fraction < 1.0, f"test_fraction must be in [0, 1), got {self.test_fraction}"
        )
        self._check(bool(self.pool_splits), "pool_splits must name at least one split, e.g. ['train', 'val']")
        bad = sorted(set(self.pool_splits) & {"surplus", "removed", "quarantine", "test"})
        self._check(not bad, f"pool_splits cannot include {bad}: only active train-like splits are re-split")
