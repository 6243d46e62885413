"""What the vote's out-of-fold probabilities are worth, measured without any reviewed labels.

- :func:`member_accuracy` / :func:`keep_members`: a member whose out-of-fold accuracy on the given
  labels is near what predicting one class would score, or far below the best member, learnt nothing
  useful; it is set aside (and reported), not averaged in.
- :func:`fit_temperature` / :func:`calibrate`: one temperature ``T`` rescales the ensemble's mean
  probabilities ``(N, C)`` so that they match how often the given labels agree with them (the
  negative log-likelihood of the given labels is minimised over ``T``). Fitted on noisy given labels,
  the calibrated probability of a *different* label errs low, never high: a label that is really wrong
  counts against the model during the fit. So a relabel chosen at calibrated probability ``p`` is right
  with probability about ``p`` or more, which is what lets clean act at a stated precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))


def member_accuracy(probs: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(M,)`` share of ``rows`` (bool ``(N,)``) whose top label under member m is the given label."""
    probs = np.asarray(probs)
    if not rows.any():
        return np.full(probs.shape[0], np.nan)
    top = np.nan_to_num(probs[:, rows], nan=0.0).argmax(-1)
    return (top == np.asarray(labels)[rows][None, :]).mean(1)


def keep_members(
    accuracy: np.ndarray,
    labels: np.ndarray,
    *,
    names: Sequence[str],
    margin: float = 0.1,
    max_gap: float = 0.25,
) -> tuple[np.ndarray, dict[str, str]]:
    """``(kept (M,) bool, {member: why it was set aside})``.

    A model that predicts the commonest given label everywhere scores that label's share ``s``. A member
    is set aside when its accuracy does not beat ``s`` by ``margin`` of what is left to learn
    (``s + margin · (1 - s)``), or when it is more than ``max_gap`` below the best member's.
    """
    acc = np.asarray(accuracy, dtype=float)
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    share = counts.max() / max(counts.sum(), 1) if counts.size else 0.0
    floor = share + margin * (1.0 - share)
    best = np.nanmax(acc) if np.isfinite(acc).any() else np.nan
    kept = np.ones(len(acc), bool)
    why: dict[str, str] = {}
    for i, (name, a) in enumerate(zip(names, acc)):
        if not np.isfinite(a) or a < floor:
            kept[i] = False
            why[name] = (
                f"out-of-fold accuracy {a:.3f} does not beat predicting one class ({share:.3f}) by {margin:g}"
            )
        elif a < best - max_gap:
            kept[i] = False
            why[name] = (
                f"out-of-fold accuracy {a:.3f} is more than {max_gap:g} below the best member's {best:.3f}"
            )
    return kept, why


def fit_temperature(mean_probs: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float:
    """The ``T`` in :data:`TEMPERATURES` minimising the mean NLL of the given labels on ``rows``."""
    if not rows.any():
        return 1.0
    logp = np.log(np.clip(np.asarray(mean_probs, dtype=np.float64)[rows], 1e-12, 1.0))
    y = np.asarray(labels, dtype=np.int64)[rows]
    best_t, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        z = logp / t
        z -= z.max(1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def calibrate(mean_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``(N, C)`` probabilities rescaled by ``temperature`` (rows of NaN stay NaN)."""
    p = np.asarray(mean_probs, dtype=np.float64)
    z = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    z -= np.nanmax(z, axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def usable(
    probs: np.ndarray, labels: np.ndarray, rows: np.ndarray, *, names: Sequence[str], **guard: float
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """``(member accuracies (M,), kept (M,) bool, {member: why set aside})`` of ``probs`` ``(M, N, C)``."""
    acc = member_accuracy(probs, labels, rows)
    kept, why = keep_members(acc, np.asarray(labels)[rows], names=names, **guard)
    return acc, kept, why


def kept_probs(probs: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The kept members' ``(M', N, C)`` probabilities; one member of NaN (nothing scored) when none is kept."""
    return probs[kept] if kept.any() else np.full_like(probs[:1], np.nan)
