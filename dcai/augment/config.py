"""Configuration of the augment stage: which sources run, how many images each adds per class, how."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dcai.config import StageConfig

SOURCES = ("affine", "elastic", "heavy", "autoaugment", "crop", "mirror", "compose")
# Sources that can make as many images as asked from any parent; the others are limited by the
# parents that allow them (a mirror per axis, five crops, the glyph recombinations of a label).
UNBOUNDED = ("affine", "elastic", "heavy", "autoaugment")
AXES = ("lr", "ud")
CROP_POSITIONS = ("tl", "tr", "bl", "br", "c")

# Roman numerals: which classes survive a flip and what they become. Data, not code: another dataset
# passes its own map, and a class missing from an axis is never flipped along it.
ROMAN_MIRROR: dict[str, dict[str, str]] = {
    "lr": {"i": "i", "ii": "ii", "iii": "iii", "v": "v", "x": "x", "iv": "vi", "vi": "iv"},
    # Up-down only for x: a handwritten i, ii or iii is often dotted, and flipped its dots sit below.
    "ud": {"x": "x"},
}
# Classes composition may build: "viii" -> "iii" -> "ii" -> "i" by erasing glyphs, "iv" -> "vi" and
# "vii" by recombining an image's own glyphs. A class name is read as one character per glyph.
ROMAN_COMPOSE = ("i", "ii", "iii", "v", "vi", "vii", "viii")


def _default_sources() -> dict[str, int]:
    # Only plain affine copies: each other source, half of the new images at the same count, against
    # affine copies alone (BENCHMARKS "augment-sources": the competition images, fixed model 3 seeds x 12
    # epochs, paired points vs affine 78.7%): elastic -0.1 +- 0.7, mirror -0.6 +- 2.5, autoaugment
    # -1.7 +- 3.4, crop -2.2 +- 2.8, heavy -5.5 +- 4.2, compose +0.5 +- 3.6 (with 12% fewer images, as
    # the classifier kept them). A source that does not beat the plain copies stays off; tune's space
    # (dcai/tune/config.py) weighs the two that tied or led, elastic and compose.
    return {"affine": 100, "elastic": 0, "heavy": 0, "autoaugment": 0, "crop": 0, "mirror": 0, "compose": 0}


@dataclass(frozen=True)
class AugmentConfig(StageConfig):
    # New images per output class and source; a source not named is off. With target_per_class > 0
    # these are relative weights: each class gets (target - its train count) new images, split by them.
    sources: dict[str, int] = field(default_factory=_default_sources)
    target_per_class: int = 0
    # Parents come only from these splits (never val/test by default); derived rows are parents only
    # with from_derived (an aspect square always stands in for the image it replaced).
    from_splits: tuple[str, ...] = ("train",)
    from_derived: bool = False
    seed: int = 0
    # aspect-ratio standardisation: a parent longer than this ratio is replaced by a square around its ink
    aspect: bool = True
    aspect_max_ratio: float = 1.75
    # a pixel is ink when it differs from the background (border median) by more than this
    ink_delta: int = 64
    # five crops
    crop_fraction: float = 0.85  # side of each crop as a fraction of the parent's sides
    crop_positions: tuple[str, ...] = CROP_POSITIONS
    validate_crops: bool = True  # keep a crop only if the classifier still reads the parent's label
    # class-aware mirroring: {axis: {class: class after the flip}}
    mirror_map: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in ROMAN_MIRROR.items()}
    )
    mirror_axes: tuple[str, ...] = AXES
    # erase-and-recompose
    compose_targets: tuple[str, ...] = ROMAN_COMPOSE
    validate_compose: bool = True
    # AutoAugment (SVHN policy without the ops below); tune scales probabilities and magnitude bins
    autoaugment_drop: tuple[str, ...] = ("Solarize", "Invert")
    autoaugment_prob_scale: float = 1.0
    autoaugment_magnitude_scale: float = 1.0
    heavy_options: dict[str, Any] = field(default_factory=dict)  # keyword options of dcai.train.augment.heavy
    # affine and elastic: options over dcai.augment.policies.AFFINE_DEFAULTS (degrees, translate, scale,
    # shear); elastic_amount: the smooth warp's standard deviation as a fraction of the side
    affine_options: dict[str, float] = field(default_factory=dict)
    elastic_amount: float = 0.03
    # the validity check: "module:factory", factory(table, classes=...) -> classify; "" = none
    classifier: str = ""
    classify_size: int = 32  # crops are resized to this square before classify (the fixed model's input)
    batch_size: int = 32  # tasks per Ray Data batch
    # KAIST's edge cases: the unbounded sources draw a parent that embed found isolated (embed_isolated: far
    # from every neighbour) this many times as often as any other of its class; 1 = uniform, as without
    # embed. A scalar tune can search (space "edge_case_weight").
    edge_case_weight: float = 1.0
    # apply the run's latest tune stage's best policy (its report's "best" overrides) over this config
    tuned: bool = False

    PRESETS = {
        "tiny": {
            "sources": {"heavy": 2, "autoaugment": 3, "crop": 0, "mirror": 3, "compose": 0},
            "batch_size": 8,
        }
    }

    def __post_init__(self) -> None:
        self._check(self.edge_case_weight > 0, f"edge_case_weight must be > 0, got {self.edge_case_weight}")
        unknown = sorted(set(self.sources) - set(SOURCES))
        self._check(not unknown, f"sources: unknown source(s) {unknown}; allowed: {list(SOURCES)}")
        bad = {
            k: v for k, v in self.sources.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0
        }
        self._check(not bad, f"sources: counts must be integers >= 0, got {bad}")
        self._check(self.target_per_class >= 0, f"target_per_class must be >= 0, got {self.target_per_class}")
        self._check(bool(self.from_splits), "from_splits must name at least one split, e.g. ['train']")
        self._check(
            self.aspect_max_ratio >= 1.0, f"aspect_max_ratio must be >= 1, got {self.aspect_max_ratio}"
        )
        self._check(0 < self.ink_delta < 255, f"ink_delta must be in 1..254, got {self.ink_delta}")
        self._check(
            0.3 <= self.crop_fraction < 1.0, f"crop_fraction must be in [0.3, 1), got {self.crop_fraction}"
        )
        bad_pos = sorted(set(self.crop_positions) - set(CROP_POSITIONS))
        self._check(not bad_pos, f"crop_positions: unknown {bad_pos}; allowed: {list(CROP_POSITIONS)}")
        self._check(isinstance(self.mirror_map, dict), "mirror_map must map axis -> {class: class}")
        bad_axes = sorted((set(self.mirror_map) | set(self.mirror_axes)) - set(AXES))
        self._check(
            not bad_axes,
            f"mirror axes {bad_axes} unknown; allowed: {list(AXES)} (lr = left-right, ud = up-down)",
        )
        for axis, table in self.mirror_map.items():
            self._check(
                isinstance(table, dict), f"mirror_map[{axis!r}] must map class -> class, got {table!r}"
            )
            self._check(
                all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()),
                f"mirror_map[{axis!r}]: class names must be strings",
            )
        self._check(all(t for t in self.compose_targets), "compose_targets: class names must be non-empty")
        self._check(self.autoaugment_prob_scale >= 0, "autoaugment_prob_scale must be >= 0")
        bad_affine = sorted(set(self.affine_options) - {"degrees", "translate", "scale", "shear"})
        self._check(
            not bad_affine, f"affine_options: unknown {bad_affine}; allowed: degrees, translate, scale, shear"
        )
        self._check(
            0 <= self.elastic_amount <= 0.2, f"elastic_amount must be in [0, 0.2], got {self.elastic_amount}"
        )
        self._check(self.autoaugment_magnitude_scale >= 0, "autoaugment_magnitude_scale must be >= 0")
        self._check(
            not self.classifier or ":" in self.classifier,
            f"classifier must be 'module:factory' or empty, got {self.classifier!r}",
        )
        self._check(
            8 <= self.classify_size <= 512, f"classify_size must be in 8..512, got {self.classify_size}"
        )
        self._check(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")

    def count(self, source: str) -> int:
        return int(self.sources.get(source, 0))

    def needs_classifier(self) -> list[str]:
        """Sources that are on and configured to be checked by a classifier."""
        out = []
        if self.count("crop") and self.validate_crops:
            out.append("crop")
        if self.count("compose") and self.validate_compose:
            out.append("compose")
        return out
