"""Configuration of the evaluate stage: the fixed model's official recipe, how many seeds, where."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig
from dcai.models.fixed import MAX_IMAGES, RECIPE

BACKENDS = ("local", "train", "tune")


@dataclass(frozen=True)
class EvaluateConfig(StageConfig):
    seeds: int = 3  # models trained, seeds first_seed .. first_seed + seeds - 1; accuracy is their mean ± std
    first_seed: int = 0
    epochs: int = RECIPE.epochs  # the official 100; fewer only for smoke tests (the tiny preset)
    batch_size: int = RECIPE.batch_size
    lr: float = RECIPE.lr
    # "keras" is the official loader's order; "full" a fresh permutation per epoch
    shuffle: str = RECIPE.shuffle
    device: str = "auto"  # auto = cuda when available, else cpu
    models_at_once: int = 0  # seeds trained together on one device (0 = all); also the seeds per Ray task
    train_splits: tuple[str, ...] = ("train",)
    val_splits: tuple[str, ...] = ("val",)
    test_splits: tuple[str, ...] = ("test", "label_book")  # manifest splits scored as test sets, when present
    max_images: int = MAX_IMAGES  # the official cap on train+val; raising it leaves the competition's rules
    cache: bool = True  # keep resized pixels (by content hash) in RUN/cache or ~/.cache/dcai
    # local: this process; train: Ray TorchTrainer; tune: one Ray Tune trial per seed group
    backend: str = "local"
    num_workers: int = 2  # train backend: Ray Train workers, each fitting its share of the seeds
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0  # fractional on a GPU cluster, e.g. 0.25: four seed groups share a GPU
    max_failures: int = 2  # a killed worker / trial restarts this many times, from its last epoch checkpoint
    storage_path: str = ""  # Ray checkpoints; "" = RUN/ray (or ~/ray_results without a run)

    PRESETS = {"tiny": {"seeds": 2, "epochs": 2, "device": "cpu", "num_workers": 1}}

    def __post_init__(self) -> None:
        self._check(self.seeds >= 1, f"seeds must be >= 1, got {self.seeds}")
        self._check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        self._check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        self._check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        self._check(
            self.shuffle in ("keras", "full"), f"shuffle must be 'keras' or 'full', got {self.shuffle!r}"
        )
        self._check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            f"device must be auto, cpu or cuda[:N], got {self.device!r}",
        )
        self._check(self.models_at_once >= 0, f"models_at_once must be >= 0, got {self.models_at_once}")
        self._check(
            bool(self.train_splits) and bool(self.val_splits), "train_splits and val_splits must name a split"
        )
        self._check(self.max_images >= 1, f"max_images must be >= 1, got {self.max_images}")
        self._check(
            self.backend in BACKENDS, f"backend must be one of {list(BACKENDS)}, got {self.backend!r}"
        )
        self._check(self.num_workers >= 1, f"num_workers must be >= 1, got {self.num_workers}")
        self._check(self.cpus_per_worker > 0, f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        self._check(self.gpus_per_worker >= 0, f"gpus_per_worker must be >= 0, got {self.gpus_per_worker}")
        self._check(
            self.max_failures >= -1, f"max_failures must be >= -1 (-1 = unlimited), got {self.max_failures}"
        )

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def groups(self) -> list[list[int]]:
        """The seeds split into groups trained together (``models_at_once`` each)."""
        size = self.models_at_once or self.seeds
        seeds = self.seed_list
        return [seeds[i : i + size] for i in range(0, len(seeds), size)]

    def fit_kwargs(self) -> dict:
        """Keyword options of :func:`dcai.train.engine.fit` (without seeds and device)."""
        return {
            **RECIPE.fit_kwargs(),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "shuffle": self.shuffle,
        }
