"""Choosing the vote's thresholds against known truth (planted noise, or a reviewed sample of your own).

Inputs are :func:`dcai.vote.scores.vote_scores` output for ``(N,)`` rows, the given labels ``(N,)``,
the true labels ``(N,)`` (class index, -1 for junk) and ``(N,)`` bool "is an error". The threshold
search is split-half: chosen on one random half of the rows, reported on the other.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from dcai.vote import scores as vs

GRID: dict[str, tuple[float, ...]] = {
    "noisy_min_margin": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
    "noisy_max_agreement": (0.2, 0.4, 0.6, 1.0),
    "ambiguous_max_top_prob": (0.0, 0.3, 0.4, 0.5),
    "ambiguous_min_entropy": (0.6, 0.7, 0.8, 1.01),  # 1.01: the entropy test never fires
}
KEEP = ("precision", "recall", "f1")


def flag_quality(s: dict, labels: np.ndarray, is_error: np.ndarray, rows: np.ndarray, **thresholds) -> dict:
    """Precision / recall / F1 of noisy-or-ambiguous on ``rows`` under ``thresholds``."""
    noisy, amb = vs.flags(s, labels, **thresholds)
    d = vs.detection((noisy | amb)[rows], np.asarray(is_error, bool)[rows])
    return {k: round(d[k], 4) for k in KEEP}


def sweep(
    s: dict,
    labels: np.ndarray,
    is_error: np.ndarray,
    *,
    defaults: Mapping[str, float],
    grid: Mapping[str, Sequence[float]] = GRID,
    seed: int = 0,
) -> dict:
    """The grid's best thresholds on a random half of the rows, scored on the other half beside ``defaults``."""
    half = np.random.default_rng(seed).permutation(len(labels))
    choose, report = half[: len(half) // 2], half[len(half) // 2 :]
    options = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
    ranked = sorted(options, key=lambda kw: -flag_quality(s, labels, is_error, choose, **kw)["f1"])
    return {
        "best_on_choice_half": [
            {**kw, **flag_quality(s, labels, is_error, choose, **kw)} for kw in ranked[:5]
        ],
        "best_on_report_half": {**ranked[0], **flag_quality(s, labels, is_error, report, **ranked[0])},
        "defaults_on_report_half": {**defaults, **flag_quality(s, labels, is_error, report, **defaults)},
    }


def auto_curves(s: dict, labels: np.ndarray, true: np.ndarray, is_error: np.ndarray) -> dict:
    """How right automatic actions would be per threshold: relabels (the new label is the true one) and
    junk removals (the image really is an error)."""
    other = s["top"] != labels
    out: dict[str, list[dict]] = {"relabel": [], "junk": []}
    for p_min, agree in itertools.product((0.5, 0.6, 0.7, 0.8, 0.9), (0.2, 0.4)):
        pick = other & (s["top_prob"] >= p_min) & (s["agreement"] <= agree)
        out["relabel"].append(
            {
                "min_prob": p_min,
                "max_agreement": agree,
                "n": int(pick.sum()),
                "right": int((s["top"] == true)[pick].sum()),
            }
        )
    for p_max, ent in itertools.product((0.2, 0.3, 0.4), (0.6, 0.75, 0.9)):
        pick = (s["top_prob"] <= p_max) & (s["entropy"] >= ent)
        out["junk"].append(
            {
                "max_top_prob": p_max,
                "min_entropy": ent,
                "n": int(pick.sum()),
                "error": int(is_error[pick].sum()),
            }
        )
    return out


def accuracy(probs: np.ndarray, true: np.ndarray, members: Sequence[str]) -> dict[str, float]:
    """Out-of-fold accuracy of each member ``(M, N, C)`` and of their mean against ``true`` (junk skipped)."""
    ok = true >= 0
    acc = {str(m): float((probs[i][ok].argmax(1) == true[ok]).mean()) for i, m in enumerate(members)}
    acc["ensemble"] = float((probs.mean(0)[ok].argmax(1) == true[ok]).mean())
    return {k: round(v, 4) for k, v in acc.items()}
