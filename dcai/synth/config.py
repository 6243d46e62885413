"""Configuration of ``dcai synth``: how many images, which problems to plant and how often.

Rates are fractions of ``n`` (the train+val images drawn clean); planted duplicates and junk are
extra files on top of those, a mislabel moves one of the ``n`` into a wrong class folder.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

NEAR_TRANSFORMS = ("resize", "jpeg", "shift", "crop", "thickness", "rotate")


@dataclass(frozen=True)
class SynthConfig(StageConfig):
    n: int = 3000  # train+val numerals drawn before planting; the competition had about 2,900
    seed: int = 0
    test_n: int = 500  # clean held-out test set, drawn by writers who wrote nothing in train/val
    label_book_per_class: int = 5  # trusted clean references per class
    val_fraction: float = 0.3  # share of the n originals filed under val/
    mislabel_rate: float = 0.10
    # Share of mislabels that swap look-alike classes (ii/iii, iv/vi, vii/viii, ix/x); the rest go to
    # a uniformly drawn other class.
    confusable_fraction: float = 0.7
    exact_dup_rate: float = 0.03
    near_dup_rate: float = 0.05
    near_transforms: tuple[str, ...] = NEAR_TRANSFORMS  # each near duplicate uses one, drawn uniformly
    cross_split_fraction: float = 0.25  # duplicates filed in the other split: train/val leakage
    blank_rate: float = 0.01
    scribble_rate: float = 0.01
    off_class_rate: float = 0.01  # letters, digits and shapes that are no numeral at all
    imbalance: float = 3.0  # largest / smallest class count among the originals (1 = balanced)
    images_per_writer: int = 25  # sets the number of writers: more writers, more style variety
    size_min: int = 48  # canvas side range in pixels
    size_max: int = 128
    chunk_size: int = 2000  # images per Ray Data task: large enough to amortise task start-up

    PRESETS = {"tiny": {"n": 200, "test_n": 50, "chunk_size": 100}}

    def __post_init__(self) -> None:
        self._check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        self._check(self.n >= 10, f"n must be at least 10 (one per class), got {self.n}")
        self._check(self.test_n >= 0, f"test_n must be >= 0, got {self.test_n}")
        self._check(
            self.label_book_per_class >= 0,
            f"label_book_per_class must be >= 0, got {self.label_book_per_class}",
        )
        self._check(
            0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}"
        )
        for name in (
            "mislabel_rate",
            "confusable_fraction",
            "exact_dup_rate",
            "near_dup_rate",
            "cross_split_fraction",
            "blank_rate",
            "scribble_rate",
            "off_class_rate",
        ):
            value = getattr(self, name)
            self._check(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        self._check(
            self.mislabel_rate < 1.0 or self.exact_dup_rate + self.near_dup_rate == 0,
            "mislabel_rate must be below 1 when duplicates are planted: they copy clean originals",
        )
        unknown = sorted(set(self.near_transforms) - set(NEAR_TRANSFORMS))
        self._check(not unknown, f"near_transforms {unknown} unknown; choose from {list(NEAR_TRANSFORMS)}")
        self._check(
            bool(self.near_transforms) or self.near_dup_rate == 0,
            "near_transforms is empty but near_dup_rate > 0; name at least one transform",
        )
        self._check(
            self.imbalance >= 1.0,
            f"imbalance is largest/smallest class count, must be >= 1, got {self.imbalance}",
        )
        self._check(
            self.images_per_writer >= 1, f"images_per_writer must be >= 1, got {self.images_per_writer}"
        )
        self._check(
            16 <= self.size_min <= self.size_max <= 4096,
            f"need 16 <= size_min <= size_max <= 4096, got {self.size_min}, {self.size_max}",
        )
        self._check(self.chunk_size >= 1, f"chunk_size must be >= 1, got {self.chunk_size}")
