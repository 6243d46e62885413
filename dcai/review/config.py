"""Configuration of the review stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig


@dataclass(frozen=True)
class ReviewConfig(StageConfig):
    max_items: int = (
        0  # a simulated reviewer answers at most this many queue items (0 = all), to cost reviews
    )

    PRESETS = {"tiny": {}}

    def __post_init__(self) -> None:
        self._check(self.max_items >= 0, f"max_items must be >= 0 (0 = all), got {self.max_items}")
