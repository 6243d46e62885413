"""Configuration of the tune stage: the search space as data, the trial budget, ASHA and where trials run.

The space maps a parameter to ``[low, high]`` (two numbers: a uniform range, whole numbers if both
are ints), a list of choices (any other list), or a single value (held fixed); a given space replaces
the default one. Names are dotted, or nested in YAML (``sources: {heavy: [0, 1]}``). Parameters:

- ``sources.<source>``: the source's share of the ``per_class`` images a trial adds to each class
  (``affine``, ``elastic``, ``heavy``, ``autoaugment``, ``mirror``; ``crop`` and ``compose`` when
  ``classifier`` is set: a trial keeps the crops and compositions the classifier reads right);
- ``autoaugment_prob_scale``, ``autoaugment_magnitude_scale``, ``elastic_amount``, ``edge_case_weight``
  (with an embed stage in the run: how much more often its isolated images are augmented): the
  AugmentConfig knobs of the same name;
- ``heavy_options.<option>``: a keyword of :func:`dcai.train.augment.heavy` (rotation, contrast_factor,
  translation, black_spots, white_spots, lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dcai.config import StageConfig

BACKENDS = ("tune", "local")
PLAIN_SOURCES = ("affine", "elastic", "heavy", "autoaugment", "mirror")
# crops and compositions: a trial keeps only those the validity classifier (TuneConfig.classifier) reads right
CHECKED_SOURCES = ("crop", "compose")
TUNABLE_SOURCES = PLAIN_SOURCES + CHECKED_SOURCES
SCALARS = ("autoaugment_prob_scale", "autoaugment_magnitude_scale", "elastic_amount", "edge_case_weight")
HEAVY_OPTIONS = ("rotation", "contrast_factor", "translation", "black_spots", "white_spots", "lines")


def _default_space() -> dict[str, Any]:
    # The plain sources that did not lose to affine copies at the same count (the measurement and the
    # rule: dcai/augment/config.py's _default_sources); compose, which tied or led too, needs a validity
    # classifier, so competition.yaml adds it with one. Every source and knob stays searchable in a
    # space a recipe gives.
    return {"sources.affine": [0.0, 1.0], "sources.elastic": [0.0, 1.0]}


def is_range(spec: Any) -> bool:
    """``[low, high]``: a list of exactly two numbers (a list of two choices would be ambiguous)."""
    return (
        isinstance(spec, (list, tuple))
        and len(spec) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    )


def flatten(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"sources": {"heavy": [0, 1]}}`` (YAML, ``--set space.sources.heavy=...``) → ``{"sources.heavy": [0, 1]}``."""
    out: dict[str, Any] = {}
    for k, v in space.items():
        name = f"{prefix}{k}"
        out.update(flatten(v, name + ".") if isinstance(v, dict) else {name: v})
    return out


def _param_ok(name: str) -> bool:
    head, _, tail = name.partition(".")
    if head == "sources":
        return tail in TUNABLE_SOURCES
    if head == "heavy_options":
        return tail in HEAVY_OPTIONS
    return name in SCALARS and not tail


@dataclass(frozen=True)
class TuneConfig(StageConfig):
    trials: int = 12  # configurations drawn from the space (seeded), each one Tune trial
    epochs: int = 10  # per trial: ASHA's max_t, a short schedule next to the official 100
    grace_period: int = 2  # epochs every trial gets before ASHA may stop it
    # models (seeds) each trial trains at once on its images, scored by their mean validation accuracy:
    # one seed's accuracy moves by points from seed to seed, which ranked policies by noise (issue 23)
    seeds_per_trial: int = 3
    reduction_factor: int = 3  # ASHA keeps the top 1/reduction_factor of the trials at each rung
    per_class: int = 400  # new images a trial adds to each class, split between the sources
    train_subset: int = 0  # train images (random, seeded) a trial starts from and derives from; 0 = all
    seed: int = 0  # draws the configurations, the subset, the augmentation and the model's weights
    space: dict[str, Any] = field(default_factory=_default_space)
    # the winner (and, with confirm_baseline, no added images) trained for this many epochs; 0 = skip
    confirm_epochs: int = 100
    confirm_baseline: bool = True
    device: str = "auto"  # auto = cuda when the trial has a GPU (local: when there is one), else cpu
    backend: str = (
        "tune"  # tune: Ray Tune trials with ASHA; local: one after another here, ASHA's rule by hand
    )
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # fractional packs several trials on one GPU, e.g. 0.25
    storage_path: str = ""  # Ray Tune results; "" = RUN/ray
    # "module:factory" of the validity classifier (as augment.classifier), trained once on the run's
    # labels before the trials; needed when the space searches crop or compose
    classifier: str = ""

    PRESETS = {
        "tiny": {
            "trials": 3,
            "epochs": 2,
            "grace_period": 1,
            "reduction_factor": 2,
            "per_class": 4,
            "train_subset": 40,
            "seeds_per_trial": 1,
            "confirm_epochs": 2,
            "device": "cpu",
        }
    }

    def __post_init__(self) -> None:
        self._check(self.trials >= 1, f"trials must be >= 1, got {self.trials}")
        self._check(self.seeds_per_trial >= 1, f"seeds_per_trial must be >= 1, got {self.seeds_per_trial}")
        self._check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        self._check(
            1 <= self.grace_period <= self.epochs,
            f"grace_period must be in 1..epochs ({self.epochs}), got {self.grace_period}",
        )
        self._check(self.reduction_factor >= 2, f"reduction_factor must be >= 2, got {self.reduction_factor}")
        self._check(self.per_class >= 0, f"per_class must be >= 0, got {self.per_class}")
        self._check(self.train_subset >= 0, f"train_subset must be >= 0 (0 = all), got {self.train_subset}")
        self._check(self.confirm_epochs >= 0, f"confirm_epochs must be >= 0, got {self.confirm_epochs}")
        self._check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"device must be auto, cpu or cuda[:N], got {self.device!r}",
        )
        self._check(
            self.backend in BACKENDS, f"backend must be one of {list(BACKENDS)}, got {self.backend!r}"
        )
        self._check(self.cpus_per_trial > 0, f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        self._check(self.gpus_per_trial >= 0, f"gpus_per_trial must be >= 0, got {self.gpus_per_trial}")
        self._check(isinstance(self.space, dict) and bool(self.space), "space must map parameter -> range")
        object.__setattr__(self, "space", flatten(self.space))  # one spelling: dotted names
        allowed = (
            [f"sources.{s}" for s in TUNABLE_SOURCES]
            + list(SCALARS)
            + [f"heavy_options.{o}" for o in HEAVY_OPTIONS]
        )
        unknown = sorted(k for k in self.space if not _param_ok(k))
        self._check(not unknown, f"space: unknown parameter(s) {unknown}; allowed: {allowed}")
        checked = sorted(s for s in CHECKED_SOURCES if f"sources.{s}" in self.space)
        self._check(
            not checked or bool(self.classifier),
            f"space searches {checked}: set classifier (e.g. 'dcai.augment.classifier:lenet') so a trial "
            "keeps only the crops / compositions it reads right",
        )
        for name, spec in self.space.items():
            if is_range(spec):
                self._check(spec[0] <= spec[1], f"space[{name!r}]: low must be <= high, got {list(spec)}")
                numbers = list(spec)
            elif isinstance(spec, (list, tuple)):
                self._check(bool(spec), f"space[{name!r}]: an empty list of choices")
                numbers = list(spec)
            else:
                numbers = [spec]
            self._check(
                all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in numbers),
                f"space[{name!r}]: values must be numbers >= 0, got {spec!r}",
            )
