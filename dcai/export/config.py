"""Configuration of the export stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

COMPETITION_CAP = 10_000  # the 2021 Data-Centric AI competition's limit on train + val images


@dataclass(frozen=True)
class ExportConfig(StageConfig):
    max_images: int = COMPETITION_CAP  # cap on the images of the capped splits together
    trim: bool = (
        False  # over the cap: move the excess to surplus (balanced, derived first) instead of failing
    )
    splits: tuple[str, ...] = ("train", "val", "test")  # exported, each to OUT/<split>/<label>/
    capped_splits: tuple[str, ...] = ("train", "val")  # what counts against the cap (the competition's rule)
    batch_size: int = 256

    PRESETS = {"tiny": {"max_images": 2000, "trim": True}}

    def __post_init__(self) -> None:
        self._check(self.max_images > 0, f"max_images must be positive, got {self.max_images}")
        self._check(set(self.capped_splits) <= set(self.splits), "capped_splits must be a subset of splits")
