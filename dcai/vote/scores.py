"""Per-image vote scores from out-of-fold member probabilities ``(M, N, C)`` and given labels ``(N,)``.

Scores are ``(N,)`` arrays: ensemble mean top label / probability, the given label's probability,
agreement (share of members whose top label is the given one), normalised entropy in [0, 1].
"""

from __future__ import annotations

import numpy as np


def vote_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """``probs`` ``(M, N, C)`` (rows of NaN = not scored), ``labels`` ``(N,)`` int → score arrays ``(N,)``."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (members, N, classes), got shape {probs.shape}")
    m, n, c = probs.shape
    labels = np.asarray(labels, dtype=np.int64)
    mean = probs.mean(axis=0)  # (N, C)
    scored = ~np.isnan(mean).any(axis=1)
    safe = np.where(scored[:, None], mean, 1.0 / c)
    rows = np.arange(n)
    top = safe.argmax(axis=1)
    votes = np.where(scored[None, :], np.nan_to_num(probs, nan=0.0).argmax(axis=2), -1)  # (M, N)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(safe * np.log(np.clip(safe, 1e-12, 1.0))).sum(axis=1) / np.log(max(c, 2))

    def nan_where_unscored(x: np.ndarray) -> np.ndarray:
        return np.where(scored, x, np.nan)

    return {
        "top": np.where(scored, top, -1),
        "top_prob": nan_where_unscored(safe[rows, top]),
        "given_prob": nan_where_unscored(safe[rows, labels]),
        "agreement": nan_where_unscored((votes == labels[None, :]).mean(axis=0)),
        "consensus": nan_where_unscored(
            (votes == top[None, :]).mean(axis=0)
        ),  # members backing the top label
        "entropy": nan_where_unscored(np.clip(entropy, 0.0, 1.0)),
        "scored": scored,
    }


def flags(
    scores: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    noisy_min_margin: float,
    noisy_max_agreement: float,
    ambiguous_max_top_prob: float,
    ambiguous_min_entropy: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, ambiguous)`` bool ``(N,)``.

    *noisy*: the ensemble's top label is another one, ahead of the given label's mean probability by
    at least ``noisy_min_margin``, and at most ``noisy_max_agreement`` of the members vote for the
    given one. *ambiguous* (only where not
    noisy): the top probability is below ``ambiguous_max_top_prob`` or the entropy is at least
    ``ambiguous_min_entropy``. Unscored rows are neither.
    """
    labels = np.asarray(labels)
    with np.errstate(invalid="ignore"):
        noisy = (
            (scores["top"] != labels)
            & (scores["top_prob"] - scores["given_prob"] >= noisy_min_margin)
            & (scores["agreement"] <= noisy_max_agreement)
        )
        ambiguous = ~noisy & (
            (scores["top_prob"] < ambiguous_max_top_prob) | (scores["entropy"] >= ambiguous_min_entropy)
        )
    return noisy & scores["scored"], ambiguous & scores["scored"]


def detection(flagged: np.ndarray, is_error: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of ``flagged`` ``(N,)`` bool against ``is_error`` ``(N,)`` bool."""
    flagged, is_error = np.asarray(flagged, bool), np.asarray(is_error, bool)
    tp = int((flagged & is_error).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(is_error.sum()), 1)
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "flagged": int(flagged.sum()),
        "errors": int(is_error.sum()),
        "true_positives": tp,
    }
