"""Configuration of investigate: the auxiliary model, its heavy augmentation, folds, K / L / rounds."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig
from dcai.models.inputs import RESIZE_METHODS
from dcai.models.vote import VOTE_MEMBERS

MODELS = ("fixed", *VOTE_MEMBERS)
AUGMENTS = ("heavy", "none")


@dataclass(frozen=True)
class InvestigateConfig(StageConfig):
    rounds: int = 5  # the paper's Table 1 has five rounds
    certify_per_round: int = 500  # K: lowest-loss candidates certified per round (the paper's K = 500)
    review_per_round: int = 100  # L: highest-loss candidates queued per round (the paper's L = 100)
    # Train on the trusted set once it holds this many rows (the paper started from 200 hand-checked
    # images); before that, round 1 cross-fits on every row in play.
    min_trusted: int = 200
    folds: int = 5  # every image is scored by the one fold model that did not train on it
    model: str = "fixed"  # the paper's auxiliary model is the competition network; or a vote member
    width: float = 1.0  # channel multiplier for a vote-member auxiliary model
    epochs: int = 200  # the paper trained its auxiliary models for 200 epochs
    batch_size: int = 8  # the competition's batch size
    lr: float = 1e-4  # the competition's Adam learning rate
    augment: str = "heavy"  # the paper's heavy augmentation (dcai.train.augment), or "none"
    image_size: int = 32
    # how images are brought to image_size (dcai.models.inputs.RESIZE_METHODS): the paper's auxiliary model
    # read the competition's aliased "tf" resize; "area" is what the vote members read (VoteConfig.resize)
    resize: str = "tf"
    splits: tuple[str, ...] = ("train", "val")  # rows investigated; trusted rows (label_book) always train
    # Rows of these splits are scored by every fold model but never trained on (nor certified or
    # queued): a test set kept out of the pipeline, e.g. the reviewed sample of the real data.
    holdout_splits: tuple[str, ...] = ()
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when available
    # GPUs per round's Ray Train worker. -1 = "auto": 1 if the cluster has a GPU when the stage starts, else
    # 0; only for clusters whose GPUs are already up (an autoscaler starts GPU nodes only for tasks that ask).
    gpus: float = -1.0

    PRESETS = {
        "tiny": {
            "rounds": 2,
            "certify_per_round": 8,
            "review_per_round": 4,
            "min_trusted": 1000,
            "folds": 2,
            "model": "lenet5",
            "epochs": 2,
            "batch_size": 16,
            "lr": 1e-3,
            "augment": "none",
        }
    }

    def __post_init__(self) -> None:
        self._check(self.rounds >= 1, f"rounds must be >= 1, got {self.rounds}")
        self._check(
            self.certify_per_round >= 0, f"certify_per_round must be >= 0, got {self.certify_per_round}"
        )
        self._check(self.review_per_round >= 0, f"review_per_round must be >= 0, got {self.review_per_round}")
        self._check(self.min_trusted >= 1, f"min_trusted must be >= 1, got {self.min_trusted}")
        self._check(self.folds >= 2, f"folds must be >= 2 (cross-fitting), got {self.folds}")
        self._check(self.model in MODELS, f"model must be one of {list(MODELS)}, got {self.model!r}")
        self._check(self.width > 0, f"width must be > 0, got {self.width}")
        self._check(self.epochs >= 1 and self.batch_size >= 1, "epochs and batch_size must be >= 1")
        self._check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        self._check(
            self.augment in AUGMENTS, f"augment must be one of {list(AUGMENTS)}, got {self.augment!r}"
        )
        self._check(self.image_size >= 8, f"image_size must be >= 8, got {self.image_size}")
        self._check(
            self.resize in RESIZE_METHODS,
            f"resize must be one of {list(RESIZE_METHODS)}, got {self.resize!r}",
        )
        self._check(bool(self.splits), "splits must name at least one split")
        self._check(not set(self.splits) & set(self.holdout_splits), "holdout_splits must not overlap splits")
