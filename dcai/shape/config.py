"""Configuration of the balance and split stages."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

COMPETITION_BUDGET = 10_000  # the 2021 Data-Centric AI competition's cap on train + val images
MODES = ("equal", "cap")
# Which rows of an over-full class stay, best first: originals, then derived images with real strokes
# (aspect squares, mirrors, recompositions, crops) before synthetic perturbations. Unknown origins last.
ORIGIN_PRIORITY = ("original", "aspect", "mirror", "compose", "crop", "autoaugment", "augment", "gan")


@dataclass(frozen=True)
class BalanceConfig(StageConfig):
    budget: int = COMPETITION_BUDGET  # cap on the rows of pool_splits together
    # equal: every class cut to the smallest class (the paper); cap: each class at most budget / classes
    mode: str = "equal"
    pool_splits: tuple[str, ...] = ("train", "val")  # what counts against the budget
    origin_priority: tuple[str, ...] = ORIGIN_PRIORITY
    seed: int = 0  # breaks ties between rows of equal priority

    PRESETS = {"tiny": {"budget": 2000}}

    def __post_init__(self) -> None:
        self._check(self.budget > 0, f"budget must be positive, got {self.budget}")
        self._check(self.mode in MODES, f"mode must be one of {list(MODES)}, got {self.mode!r}")
        self._check(bool(self.pool_splits), "pool_splits must name at least one split, e.g. ['train', 'val']")
        self._check("surplus" not in self.pool_splits, "pool_splits cannot include 'surplus'")


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
