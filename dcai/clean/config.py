"""Configuration of ``clean``: the thresholds that turn dedup / investigate / vote evidence into actions."""

from __future__ import annotations

from dataclasses import dataclass

from dcai.config import StageConfig

REVIEW, REMOVE = "review", "remove"


@dataclass(frozen=True)
class CleanConfig(StageConfig):
    # --auto: apply relabel / remove; without it every proposed action only goes to the review queue.
    auto: bool = False
    # Noisy and ambiguous (queued for review) are the vote's flags at the vote's thresholds
    # (VoteConfig.noisy_*, ambiguous_*; dcai.vote.scores.flags): one rule, one set of knobs.
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
        ):
            v = getattr(self, name)
            self._check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
        self._check(
            0.0 < self.max_removed_share <= 1.0,
            f"max_removed_share must be in (0, 1], got {self.max_removed_share}",
        )
        self._check(self.aux_review_loss > 0, f"aux_review_loss must be > 0, got {self.aux_review_loss}")
        self._check(
            self.doubtful in (REVIEW, REMOVE), f"doubtful must be 'review' or 'remove', got {self.doubtful!r}"
        )
