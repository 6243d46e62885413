"""The investigate loop over rounds: cross-fit, rank by loss, certify / queue, record a Table-1 row per round.

Inputs are ``(N,)`` arrays aligned with the manifest (labels as class indices); ``score(cf, labels)``
returns ``(N, C)`` out-of-fold probabilities and fit info, so the caller decides where models train
(locally, or as Ray tasks). ``truth`` ``(N,)`` (class index, ``JUNK``, or ``UNKNOWN``) only feeds metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dcai.investigate import rounds
from dcai.investigate.config import InvestigateConfig
from dcai.train import crossfit

JUNK, UNKNOWN = -1, -2  # truth codes: not any class (remove), not known to the truth file
Score = Callable[[crossfit.CrossFit, np.ndarray], tuple[np.ndarray, dict]]


@dataclass
class LoopResult:
    state: rounds.LoopState
    probs: np.ndarray  # (N, C) the last out-of-fold probabilities of every row
    table: list[dict]  # one Table-1 row per round


def _truth_metrics(
    truth: np.ndarray, labels: np.ndarray, certified: np.ndarray, queued: np.ndarray, pred: np.ndarray
) -> dict:
    """The paper's "pipeline accuracy": certified rows whose label is right plus queued rows that really
    are wrong, over all known flagged rows; and how often a queued row's suggestion is its true label."""
    known_c = certified[truth[certified] != UNKNOWN]
    known_q = queued[truth[queued] != UNKNOWN]
    right = int((truth[known_c] == labels[known_c]).sum() + (truth[known_q] != labels[known_q]).sum())
    mis = known_q[(truth[known_q] >= 0) & (truth[known_q] != labels[known_q])]
    return {
        "pipeline_accuracy": right / max(len(known_c) + len(known_q), 1),
        "certified_precision": float((truth[known_c] == labels[known_c]).mean())
        if len(known_c)
        else float("nan"),
        "suggestion_accuracy": float((pred[mis] == truth[mis]).mean()) if len(mis) else float("nan"),
    }


def run_loop(
    labels: np.ndarray,
    *,
    trusted: np.ndarray,
    active: np.ndarray,
    score: Score,
    cfg: InvestigateConfig,
    groups: np.ndarray | None = None,
    holdout: np.ndarray | None = None,
    reviewer: rounds.Reviewer | None = None,
    truth: np.ndarray | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> LoopResult:
    """Run up to ``cfg.rounds`` rounds; stops early once no candidate is left."""
    state = rounds.LoopState.start(labels, trusted=trusted, active=active, holdout=holdout)
    n = len(labels)
    probs = np.full((n, 0), np.nan)
    table: list[dict] = []
    in_play = np.asarray(active, bool) & ~np.asarray(trusted, bool)
    if holdout is not None:
        in_play &= ~np.asarray(holdout, bool)
    for r in range(1, cfg.rounds + 1):
        if not (state.status == rounds.CANDIDATE).any():
            break
        train, from_trusted = state.train_rows(min_trusted=cfg.min_trusted)
        cf = crossfit.plan(
            n, cfg.folds, seed=cfg.seed + r, labels=state.labels, groups=groups, trainable=train
        )
        labels_before = state.labels.copy()
        probs, info = score(cf, state.labels)
        out = rounds.step(
            state, probs, round_no=r, k=cfg.certify_per_round, l=cfg.review_per_round, reviewer=reviewer
        )
        tr = np.flatnonzero(train)
        pred = np.nan_to_num(probs, nan=0.0).argmax(axis=1)
        decided = np.isin(state.status, (rounds.CERTIFIED, rounds.REVIEWED, rounds.REMOVED)) & in_play
        row = {
            "round": r,
            "trained_on": "trusted" if from_trusted else "all",
            "train": int(round(len(tr) * (cfg.folds - 1) / cfg.folds)),  # rows each fold model trained on
            "val": int(round(len(tr) / cfg.folds)),  # its held-out fold
            "train_acc": float(np.mean(info["train_acc"])) if info.get("train_acc") else float("nan"),
            "val_acc": float((pred[tr] == labels_before[tr]).mean()) if len(tr) else float("nan"),
            "certified": len(out["certified"]),
            "queued": len(out["queued"]),
            "reviewed": len(out["answered"]),
            "validated_share": float(decided.sum() / max(in_play.sum(), 1)),
            "epoch_seconds": info.get("epoch_seconds"),
        }
        if truth is not None:
            row.update(_truth_metrics(truth, labels_before, out["certified"], out["queued"], pred))
        table.append(row)
        log(
            f"round {r}: trained on {row['trained_on']} ({len(tr)} rows), val acc {row['val_acc']:.3f}, "
            f"certified {row['certified']}, queued {row['queued']}, reviewed {row['reviewed']}, "
            f"validated {row['validated_share']:.0%}"
        )
    return LoopResult(state, probs, table)
