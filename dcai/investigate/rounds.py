"""The paper's auxiliary-model loop as pure bookkeeping over ``(N,)`` arrays: who trains, who is certified.

Each round: rank the still-undecided rows by out-of-fold loss; the K lowest are certified, the L
highest are queued with a suggested label (answered at once by a reviewer, if there is one);
certified and reviewed rows form the trusted set that trains the next round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Row status codes; ``NAMES`` gives the words written into the manifest.
CANDIDATE, CERTIFIED, REVIEWED, REMOVED, QUEUED, TRUSTED, HELDOUT = range(7)
NAMES = ("candidate", "certified", "reviewed", "removed", "queued", "trusted", "heldout")
TRAINS = (CERTIFIED, REVIEWED, TRUSTED)  # statuses whose rows form the trusted training set


@dataclass
class LoopState:
    labels: np.ndarray  # (N,) int: current label of each row (a reviewer's relabel changes it)
    status: np.ndarray  # (N,) int8 status code
    round_of: np.ndarray  # (N,) int: the round that decided the row, 0 = not yet
    history: list[dict] = field(default_factory=list)

    @classmethod
    def start(
        cls, labels: np.ndarray, *, trusted: np.ndarray, active: np.ndarray, holdout: np.ndarray | None = None
    ) -> LoopState:
        """Trusted rows start trusted, held-out rows held out (scored, never trained on or decided),
        inactive rows removed, the rest candidates."""
        status = np.full(len(labels), CANDIDATE, dtype=np.int8)
        status[np.asarray(trusted, bool)] = TRUSTED
        if holdout is not None:
            status[np.asarray(holdout, bool)] = HELDOUT
        status[~np.asarray(active, bool)] = REMOVED
        return cls(np.asarray(labels, np.int64).copy(), status, np.zeros(len(labels), np.int64))

    def train_rows(self, *, min_trusted: int) -> tuple[np.ndarray, bool]:
        """``((N,) bool rows to train on, from_trusted)``.

        The trusted set once it has ``min_trusted`` rows; before that (round 1, no seed set) every
        row still in play except the queued ones, cross-fitted so each is scored out of fold.
        """
        trusted = np.isin(self.status, TRAINS)
        if trusted.sum() >= min_trusted:
            return trusted, True
        return np.isin(self.status, (CANDIDATE, *TRAINS)), False


def loss_of(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(N, C)`` probabilities, ``(N,)`` labels → ``(N,)`` cross-entropy ``-log p[label]`` (NaN where unscored)."""
    p = probs[np.arange(len(labels)), labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(np.clip(p, 1e-12, 1.0))


def select(loss: np.ndarray, candidates: np.ndarray, *, k: int, l: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: E741
    """Indices of the ``k`` lowest-loss and the ``l`` highest-loss candidates (disjoint; NaN never picked)."""
    idx = np.flatnonzero(np.asarray(candidates, bool) & ~np.isnan(loss))
    order = idx[np.argsort(loss[idx], kind="stable")]
    high = order[::-1][: min(l, len(order))]
    low = order[: max(0, min(k, len(order) - len(high)))]
    return low, high


Reviewer = Callable[[np.ndarray, np.ndarray], dict[int, tuple[str, "int | None"]]]


def step(
    state: LoopState,
    probs: np.ndarray,
    *,
    round_no: int,
    k: int,
    l: int,  # noqa: E741
    reviewer: Reviewer | None = None,
) -> dict[str, np.ndarray]:
    """One round on ``(N, C)`` out-of-fold ``probs``: certify the K lowest-loss candidates, queue the L highest.

    ``reviewer(queued, suggested)`` (row indices, suggested label indices) answers queued rows as
    ``{row: ("keep" | "relabel" | "remove", new label or None)}``; answered rows leave the queue.
    Returns the round's ``loss`` ``(N,)`` and the ``certified``, ``queued``, ``answered`` row indices.
    """
    loss = loss_of(probs, state.labels)
    low, high = select(loss, state.status == CANDIDATE, k=k, l=l)
    state.status[low] = CERTIFIED
    state.status[high] = QUEUED
    state.round_of[np.concatenate([low, high])] = round_no
    answers = (
        reviewer(high, np.nan_to_num(probs[high], nan=0.0).argmax(axis=1)) if reviewer and len(high) else {}
    )
    for i, (action, label) in answers.items():
        if action == "remove":
            state.status[i] = REMOVED
        else:
            state.status[i] = REVIEWED
            if action == "relabel" and label is not None:
                state.labels[i] = label
    return {"loss": loss, "certified": low, "queued": high, "answered": np.asarray(sorted(answers), np.int64)}
