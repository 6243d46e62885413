"""Configuration of the ingest stage."""

from __future__ import annotations

from dataclasses import dataclass

from dcai import imaging
from dcai.config import StageConfig


@dataclass(frozen=True)
class IngestConfig(StageConfig):
    classes: tuple[str, ...] = ()  # if given, a label folder outside this list is an error
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS  # larger images are quarantined as decompression bombs
    trusted_splits: tuple[str, ...] = ("label_book",)  # reference examples: certified, never relabelled
    batch_size: int = 256  # files per Ray Data task; decode is cheap, so batches amortise task overhead

    PRESETS = {"tiny": {"batch_size": 64}}

    def __post_init__(self) -> None:
        self._check(self.max_pixels > 0, f"max_pixels must be positive, got {self.max_pixels}")
        self._check(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
