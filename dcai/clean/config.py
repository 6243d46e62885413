"""Configuration of ``clean``: the thresholds that turn dedup / investigate / vote evidence into actions."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

REVIEW, REMOVE = "review", "remove"


@dataclass(frozen=True)
class CleanConfig(StageConfig):
    # --auto: apply relabel / remove; without it every proposed action only goes to the review queue.
    auto: bool = False
    # Review as noisy: the ensemble's top label is another one, ahead of the given label's mean
    # probability by this margin, with at most noisy_max_agreement of the members on the given label.
    noisy_min_margin: float = 0.1
    noisy_max_agreement: float = 0.4
    # Relabel without asking: noisy, and the top label has at least this mean probability ...
    relabel_min_prob: float = 0.6
    # ... and at most this share of the members still votes for the given label (1 of 5).
    relabel_max_agreement: float = 0.2
    # With investigate evidence too, relabel only when its suggestion names the same label.
    require_consensus: bool = True
    # Junk: no label gets even this much probability and the entropy (normalised to [0, 1]) is at
    # least junk_min_entropy: the models see nothing they know. Removed without asking.
    junk_max_top_prob: float = 0.2
    junk_min_entropy: float = 0.9
    # Review as ambiguous: top probability below this, or entropy at least the next one.
    ambiguous_max_top_prob: float = 0.3
    ambiguous_min_entropy: float = 0.8
    # Investigate alone: queue when the auxiliary model's loss on the given label exceeds this
    # (-log p; 2.3 = p < 0.1) and the image was not certified.
    aux_review_loss: float = 2.3
    # What --auto does with images it would ask about (ambiguous, weakly noisy, duplicate conflicts):
    # "review" leaves them in place and queues them; "remove" takes them out (the 3rd-place team's
    # choice: with no reviewer, doubtful images cost more than they teach).
    doubtful: str = REVIEW
    # --auto refuses to take out more than this share of the active images of any class: when the
    # evidence condemns most of a class, the models are too weak to trust (too few epochs, too little
    # data), not the data too bad. 1.0 turns the guard off.
    max_removed_share: float = 0.6

    PRESETS = {"tiny": {}}

    def __post_init__(self) -> None:
        for name in (
            "relabel_min_prob",
            "relabel_max_agreement",
            "junk_max_top_prob",
            "junk_min_entropy",
            "noisy_min_margin",
            "noisy_max_agreement",
            "ambiguous_max_top_prob",
            "ambiguous_min_entropy",
        ):
            v = getattr(self, name)
            self._check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
        self._check(
            0.0 < self.max_removed_share <= 1.0,
            f"max_removed_share must be in (0, 1], got {self.max_removed_share}",
        )
        self._check(self.aux_review_loss > 0, f"aux_review_loss must be > 0, got {self.aux_review_loss}")
        self._check(
            self.relabel_max_agreement <= self.noisy_max_agreement,
            f"relabel_max_agreement ({self.relabel_max_agreement}) must be <= noisy_max_agreement "
            f"({self.noisy_max_agreement}): an automatic relabel needs at least the evidence that queues one",
        )
        self._check(
            self.doubtful in (REVIEW, REMOVE), f"doubtful must be 'review' or 'remove', got {self.doubtful!r}"
        )
