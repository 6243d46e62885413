"""Vote rounds: round r > 1 refits the fold models on cleaner data, on the same fold plan.

Round 1 trains on every row of its fold plan. Round r > 1 drops the rows round r - 1 flagged noisy from
the training masks ``(K, N)`` (or keeps them, relabelled with the ensemble's top label), so each row is
still scored only by its own fold's model, which never trained on it. Scores and flags are always
against the given labels ``(N,)``, on every round's probabilities averaged (``rounds_scored="all"``, the
default) or on the last round's; after the last round they are the stage's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from dcai.train.crossfit import CrossFit
from dcai.vote import evidence
from dcai.vote import scores as vs
from dcai.vote.config import VoteConfig

# fit(cf, y_train) -> ((M, N, C) out-of-fold probabilities, per-trial info)
Fit = Callable[[CrossFit, np.ndarray], tuple[np.ndarray, list]]


def next_training(
    cf: CrossFit,
    y: np.ndarray,
    noisy: np.ndarray,
    top: np.ndarray,
    *,
    flagged: str,
    protected: np.ndarray | None = None,
) -> tuple[CrossFit, np.ndarray]:
    """The next round's plan and training labels ``(N,)`` from this round's ``noisy`` ``(N,)`` flags.

    ``flagged="drop"``: noisy rows leave every training mask; ``"relabel"``: they stay, with their
    ``top`` ``(N,)`` label. ``protected`` rows (trusted) always train with their given label. The fold
    assignment is unchanged and the masks only shrink, so the cross-fitting guarantee carries over.
    """
    if flagged not in ("drop", "relabel"):
        raise ValueError(f"flagged must be 'drop' or 'relabel', got {flagged!r}")
    act = np.asarray(noisy, bool) & (np.asarray(top) >= 0)
    if protected is not None:
        act &= ~np.asarray(protected, bool)
    y_train = np.asarray(y, np.int64).copy()
    masks = cf.masks
    if flagged == "drop":
        masks = masks & ~act[None, :]
    else:
        y_train[act] = np.asarray(top)[act]
    nxt = CrossFit(cf.folds, masks)
    nxt.check()
    return nxt, y_train


def run_rounds(
    fit: Fit,
    y: np.ndarray,
    cf: CrossFit,
    cfg: VoteConfig,
    *,
    protected: np.ndarray | None = None,
    scored: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[dict], list[list]]:
    """``cfg.rounds`` rounds of ``fit``: per round the ``(M, N, C)`` probabilities, a summary, the trial info.

    Round r's flags (which choose round r + 1's training rows) read ``cfg.scored`` of rounds 1..r. The
    summary counts the rows trained on (by any fold model), the relabelled ones, the noisy and ambiguous
    flags and the ensemble's out-of-fold accuracy against the given labels on ``scored``
    ``(N,)`` rows (default all).
    """
    y = np.asarray(y, np.int64)
    scored = np.ones(len(y), bool) if scored is None else np.asarray(scored, bool)
    plan, y_train = cf, y
    probs_by_round, summaries, infos = [], [], []
    for r in range(1, cfg.rounds + 1):
        plan.check()
        started = time.time()
        probs, info = fit(plan, y_train)
        probs_by_round.append(probs)
        probs_now = cfg.scored(probs_by_round)
        _, kept, _ = evidence.usable(probs_now, y, scored, names=cfg.members, **cfg.member_guard())
        s = vs.vote_scores(evidence.kept_probs(probs_now, kept), y)
        noisy, ambiguous = vs.flags(s, y, **cfg.flag_options())
        summaries.append(
            {
                "round": r,
                "trained_on": int(plan.masks.any(axis=0).sum()),
                "relabelled": int((y_train != y).sum()),
                "noisy": int(noisy.sum()),
                "ambiguous": int(ambiguous.sum()),
                "ensemble_oof_accuracy": float((s["top"][scored] == y[scored]).mean()),
                "members_kept": [m for m, k in zip(cfg.members, kept) if k],
                "seconds": round(time.time() - started, 2),
            }
        )
        infos.append(info)
        if r < cfg.rounds:
            plan, y_train = next_training(
                cf, y, noisy, s["top"], flagged=cfg.round_flagged, protected=protected
            )
    return probs_by_round, summaries, infos


def scoring(config: dict) -> str:
    """Which rounds' probabilities a vote's flags read, in words, from its report's ``config`` (votes from
    before ``rounds_scored`` read the last round)."""
    if config.get("rounds_scored", "last") == "all":
        return "every round's models averaged"
    return "the last round's models"
