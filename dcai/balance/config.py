"""Configuration of the balance stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

COMPETITION_BUDGET = 10_000  # the 2021 Data-Centric AI competition's cap on train + val images
MODES = ("equal", "cap")
# Which rows of an over-full class stay, best first: originals, then derived images with real strokes
# (aspect squares, mirrors, recompositions, crops) before synthetic perturbations. Unknown origins last.
ORIGIN_PRIORITY = (
    "original",
    "aspect",
    "mirror",
    "compose",
    "crop",
    "elastic",
    "affine",
    "autoaugment",
    "augment",
    "gan",
)


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
