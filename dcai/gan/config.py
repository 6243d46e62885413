"""Configuration of the gan stage: the paper's training settings, the guard, the sampling and the search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dcai.config import StageConfig

BACKENDS = ("ray", "local")  # ray: Ray Train (TorchTrainer) and Ray Tune; local: this process, no Ray
SEARCHED = ("gamma", "delta", "ramp", "images")


def _default_space() -> dict[str, Any]:
    # Around the paper's point (γ 0.5, δ 1, γ raised linearly): γ up to the cap, the ramp as a fraction of
    # the iterations, and how many images to add per class (0 is a candidate: tune may add none).
    return {"gamma": [0.0, 0.5], "delta": [0.5, 1.5], "ramp": [0.0, 1.0], "images": [0, 200]}


@dataclass(frozen=True)
class GanConfig(StageConfig):
    # "We use a batch size of 32, a learning rate of 0.0001 ... set δ = 1, linearly increase γ up to 0.5,
    # and train the network for up to 200K iterations."
    iterations: int = 2000  # generator + discriminator steps; the paper went up to 200k (a GPU budget)
    batch_size: int = 32
    lr: float = 1e-4
    gamma: float = 0.5
    delta: float = 1.0
    ramp: float = 0.5  # γ rises linearly from 0 over this fraction of the iterations, then stays
    # The guard against the generator winning by drawing another numeral (γ rewards the classifier's error):
    # γ is never above gamma_cap, the discriminator sees the class (conditional), and every kept image must
    # be read as its class by the validity classifier. bench/gan.py measures each guard alone.
    gamma_cap: float = 0.5
    conditional_disc: bool = True
    width: int = 64  # channels of the first generator / discriminator layer (DCGAN's 64)
    # the "pre-trained classifier": the fixed model trained on the run's data for this many epochs, frozen
    classifier_epochs: int = 10
    # the validity check (augment's contract, "module:factory"): a generated image is kept only when this
    # classifier reads the class it was generated for
    validity: str = "dcai.augment.classifier:lenet"
    per_class: int = 100  # images to keep per class (tuned: the search's winner decides)
    # the dedup check against the run: a generated image is dropped when its decoded pixels equal a run
    # image's, or when its ink mask (dedup's sketch) overlaps one's by this much among pHash neighbours.
    # 0.95: dedup's figure for the mask check without its pixel step (a GAN image has no transform to
    # explain); a generator that memorised a training image is what this catches
    dedup_threshold: float = 0.95
    oversample: int = 4  # draw at most per_class * oversample per class to find per_class that pass
    checkpoint_every: int = 500  # iterations between checkpoints (resume restarts from the last one)
    seed: int = 0
    device: str = "auto"
    backend: str = "ray"
    gpus: float = -1.0  # Ray Train worker's GPU: -1 = one when the cluster has one now, else CPU
    # the search (Ray Tune + ASHA): apply the winner's γ, δ, ramp and images per class
    tuned: bool = False
    trials: int = 6
    trial_iterations: int = 300  # GAN iterations per trial (a short schedule next to `iterations`)
    epochs: int = 6  # fixed-model epochs per trial: ASHA's max_t
    grace_period: int = 2
    reduction_factor: int = 3
    seeds_per_trial: int = 2
    space: dict[str, Any] = field(default_factory=_default_space)
    # the winner adds its images only when its final gain over as many ordinary augmented images is above this
    min_gain: float = 0.0
    storage_path: str = ""  # Ray Train / Tune results; "" = RUN/ray

    PRESETS = {
        "tiny": {
            "iterations": 6,
            "checkpoint_every": 3,
            "width": 8,
            "classifier_epochs": 1,
            "validity": "dcai.augment.classifier:lenet_tiny",
            "per_class": 2,
            "trials": 2,
            "trial_iterations": 2,
            "epochs": 2,
            "grace_period": 1,
            "reduction_factor": 2,
            "seeds_per_trial": 1,
            "space": {"gamma": [0.0, 0.5], "delta": 1.0, "ramp": 0.5, "images": [1, 2]},
            "device": "cpu",
        }
    }

    def __post_init__(self) -> None:
        self._check(self.iterations >= 1, f"iterations must be >= 1, got {self.iterations}")
        self._check(self.batch_size >= 2, f"batch_size must be >= 2 (batch norm), got {self.batch_size}")
        self._check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        self._check(self.gamma >= 0 and self.delta >= 0, "gamma and delta must be >= 0")
        self._check(
            0 <= self.ramp <= 1, f"ramp must be in [0, 1] (a fraction of iterations), got {self.ramp}"
        )
        self._check(self.gamma_cap >= 0, f"gamma_cap must be >= 0, got {self.gamma_cap}")
        self._check(self.width >= 2, f"width must be >= 2, got {self.width}")
        self._check(
            self.classifier_epochs >= 1, f"classifier_epochs must be >= 1, got {self.classifier_epochs}"
        )
        self._check(
            ":" in self.validity,
            f"validity must be 'module:factory' (the validity classifier), got {self.validity!r}",
        )
        self._check(self.per_class >= 0, f"per_class must be >= 0, got {self.per_class}")
        self._check(
            0 < self.dedup_threshold <= 1, f"dedup_threshold must be in (0, 1], got {self.dedup_threshold}"
        )
        self._check(self.oversample >= 1, f"oversample must be >= 1, got {self.oversample}")
        self._check(self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        self._check(
            self.device in ("auto", "cpu") or self.device.startswith("cuda"),
            f"device must be auto, cpu or cuda[:N], got {self.device!r}",
        )
        self._check(
            self.backend in BACKENDS, f"backend must be one of {list(BACKENDS)}, got {self.backend!r}"
        )
        self._check(
            self.trials >= 1 and self.trial_iterations >= 1, "trials and trial_iterations must be >= 1"
        )
        self._check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        self._check(
            1 <= self.grace_period <= self.epochs,
            f"grace_period must be in 1..epochs ({self.epochs}), got {self.grace_period}",
        )
        self._check(self.reduction_factor >= 2, f"reduction_factor must be >= 2, got {self.reduction_factor}")
        self._check(self.seeds_per_trial >= 1, f"seeds_per_trial must be >= 1, got {self.seeds_per_trial}")
        self._check(
            isinstance(self.space, dict), "space must map parameter -> [low, high], choices or a value"
        )
        unknown = sorted(set(self.space) - set(SEARCHED))
        self._check(not unknown, f"space: unknown parameter(s) {unknown}; allowed: {list(SEARCHED)}")
        for name, spec in self.space.items():
            values = list(spec) if isinstance(spec, (list, tuple)) else [spec]
            self._check(
                bool(values)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values),
                f"space[{name!r}]: values must be numbers >= 0, got {spec!r}",
            )
        ramp = self.space.get("ramp")
        self._check(
            all(v <= 1 for v in (ramp if isinstance(ramp, (list, tuple)) else [ramp or 0])),
            "space['ramp']: a fraction of the iterations, at most 1",
        )

    def effective_gamma(self, gamma: float | None = None) -> float:
        """γ after the cap (the guard): ``min(gamma, gamma_cap)``."""
        return min(self.gamma if gamma is None else gamma, self.gamma_cap)
