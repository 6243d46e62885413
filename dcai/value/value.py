"""The value stage's body, without Ray: K fold models (``fit`` passed in) keep checkpoints; TracIn
(:mod:`dcai.value.influence`) values every training image of model f on the validation images of fold f,
which model f never trained on; an image's value is the mean over the models that trained on it
(an image of a held-out split: over every model, as if it had been trained on).
Writes ``value_*`` columns and queues the most harmful images ("harms validation").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.review import queue as q
from dcai.runs import StageOutput
from dcai.train import crossfit
from dcai.train.fitted import Fit
from dcai.train.inputs import label_rows
from dcai.train.oof import make_augment, make_model_fn
from dcai.value.config import ValueConfig
from dcai.value.influence import tracin

STAGE = "value"
REASON = "value: harms validation"


def cross_value(
    model_fn: Callable, x: np.ndarray, y: np.ndarray, cf: crossfit.CrossFit, is_val: np.ndarray,
    cfg: ValueConfig, *, fit: Fit,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``influence`` / ``self_influence`` ``(N,)`` (rows no model trained on: valued by every model), out-of-fold
    ``probs`` ``(N, C)`` of the fold models, and ``validation`` ``(N,)`` bool: the rows valued against."""
    from dcai.train import engine

    results = fit(
        model_fn, x, y, seeds=[cfg.seed * 1000 + f for f in range(cf.k)], train_masks=cf.masks,
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, augment=make_augment(cfg.augment),
        keep_best=False, keep_epochs=cfg.checkpoint_epochs(), device=cfg.device,
    )  # fmt: skip
    n = len(y)
    total, total_self, count = np.zeros(n), np.zeros(n), np.zeros(n)
    validation = np.zeros(n, bool)
    # rows no model trained on (a held-out split) are valued by every model as if they were one of its
    # training images: what a gradient step on them would do to its validation loss
    unseen = cf.folds == crossfit.UNTRAINED
    for f, result in enumerate(results):
        train = np.flatnonzero(cf.masks[f] | unseen)
        held = np.flatnonzero(cf.folds == f)
        val = held[is_val[held]] if is_val[held].any() else held
        validation[val] = True
        inf, self_inf = tracin(
            model_fn, list(result.checkpoints.values()), x[train], y[train], x[val], y[val]
        )
        total[train] += inf
        total_self[train] += self_inf
        count[train] += 1
    probs = engine.predict(model_fn, [r.state_dict for r in results], x, device=cfg.device)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "influence": np.where(count > 0, total / count, np.nan),
            "self_influence": np.where(count > 0, total_self / count, np.nan),
            "probs": crossfit.out_of_fold(probs, cf),
            "validation": validation,
        }


def harmful(influence: np.ndarray, share: float, groups: np.ndarray | None = None) -> np.ndarray:
    """``(N,)`` bool: negative influence among the ``share`` of valued rows (non-NaN) with the lowest, in
    each of ``groups`` ``(N,)`` apart (trained and never-trained rows: unseen images have larger gradients)."""
    groups = np.zeros(len(influence), int) if groups is None else np.asarray(groups)
    out = np.zeros(len(influence), bool)
    for g in np.unique(groups):
        known = np.flatnonzero(~np.isnan(influence) & (groups == g))
        take = known[np.argsort(influence[known], kind="stable")][: int(round(share * len(known)))]
        out[take] = influence[take] < 0
    return out


def value(
    table: pa.Table, cfg: ValueConfig, workdir: Path, *, load: Callable[[pa.Table], np.ndarray], fit: Fit
) -> StageOutput:
    """The stage body: ``load(rows)`` gives the model inputs, ``fit`` trains the fold models."""
    started = time.time()
    lr = label_rows(table, cfg.splits, cfg.holdout_splits)
    rows, sub, holdout, classes, y, groups = lr.rows, lr.sub, lr.holdout, lr.classes, lr.y, lr.groups
    split = manifest.column(sub, "split")
    cf = crossfit.plan(len(rows), cfg.folds, seed=cfg.seed, labels=y, groups=groups, trainable=~holdout)
    cf.check()
    x = load(sub)
    loaded = time.time()
    model_fn = make_model_fn(cfg.model, len(classes), width=cfg.width)
    v = cross_value(model_fn, x, y, cf, np.isin(split, cfg.validation_splits), cfg, fit=fit)
    bad = harmful(v["influence"], cfg.harmful_share, groups=holdout)
    known = ~np.isnan(v["influence"])
    rank = np.full(len(y), np.nan)  # 0 = the most harmful valued image, 1 = the most helpful (in its group)
    for g in (holdout, ~holdout):
        at = np.flatnonzero(known & g)
        rank[at] = np.argsort(np.argsort(v["influence"][at], kind="stable")) / max(len(at) - 1, 1)
    top = v["probs"].argmax(1)
    np.savez_compressed(
        workdir / "influence.npz", ids=manifest.column(sub, "id").astype(str), labels=y, folds=cf.folds,
        classes=np.asarray(classes), influence=v["influence"], self_influence=v["self_influence"],
        probs=v["probs"].astype(np.float32),
    )  # fmt: skip
    cols = {
        "value_influence": (v["influence"].tolist(), pa.float64()),
        "value_self_influence": (v["self_influence"].tolist(), pa.float64()),
        "value_rank": (rank.tolist(), pa.float64()),
        "value_harmful": (bad.tolist(), pa.bool_()),
        "value_top_label": ([classes[t] for t in top], pa.string()),
    }
    table = manifest.with_row_columns(table, rows, cols)
    flagged = np.zeros(table.num_rows, bool)
    flagged[rows[bad & ~holdout]] = True  # a held-out image is scored, never queued
    queue = q.make_queue(
        table, flagged, why=REASON, suggested=manifest.column(table, "value_top_label"),
        score=1.0 - np.nan_to_num(manifest.column(table, "value_rank").astype(float), nan=1.0),
    )  # fmt: skip
    q.write_queue(queue, workdir)
    return StageOutput(
        table,
        {
            "classes": classes,
            "rows_valued": int(known.sum()),
            "validation_rows": int(v["validation"].sum()),
            "held_out": int(holdout.sum()),
            "checkpoint_epochs": list(cfg.checkpoint_epochs()),
            "harmful": int(bad.sum()),
            "negative": int((v["influence"][known] < 0).sum()),
            # the fold models' out-of-fold accuracy on the given labels: how much their gradients know
            "oof_accuracy": float((top[~holdout] == y[~holdout]).mean())
            if (~holdout).any()
            else float("nan"),
            "queued": queue.num_rows,
            "load_seconds": round(loaded - started, 2),
            "fit_and_trace_seconds": round(time.time() - loaded, 2),
        },
    )
