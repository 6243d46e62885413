"""Configuration of embed: the contrastive encoder's training, the kNN and its flags."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.train.fitted import FittedConfig


@dataclass(frozen=True)
class EmbedConfig(FittedConfig):
    dim: int = 32  # embedding size: the encoder's last layer has this many outputs, compared by cosine
    # SupCon's temperature (Khosla et al. 2020 use 0.1 at batch 1024+; small batches tolerate the same)
    temperature: float = 0.1
    k: int = 10  # neighbours per image
    # "neighbours disagree" (embed_noisy): another label holds at least knn_min_share of the k neighbours
    # and the given label at most knn_max_given_share.
    knn_min_share: float = 0.6
    knn_max_given_share: float = 0.2
    # embed_isolated: the image's mean distance to its neighbours is in this top share of its fold's images
    # (an edge case: augment can give it extra copies)
    isolated_share: float = 0.05

    PRESETS = {
        "tiny": {
            "folds": 2,
            "epochs": 2,
            "batch_size": 16,
            "augment": "none",
            "dim": 8,
            "k": 3,
        }
    }

    def __post_init__(self) -> None:
        self.check_training()
        self._check(self.dim >= 2, f"dim must be >= 2, got {self.dim}")
        self._check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        self._check(self.k >= 1, f"k must be >= 1, got {self.k}")
        for name in ("knn_min_share", "knn_max_given_share", "isolated_share"):
            v = getattr(self, name)
            self._check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
