"""The embed stage's body, without Ray: rows → K fold encoders trained with SupCon (``fit`` passed in) →
every row embedded by each fold model → out-of-fold kNN (:mod:`dcai.embed.knn`) → ``embed_*`` columns,
``vectors.npz`` (each row's out-of-fold vector ``(N, D)`` and its neighbours) and a review queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.embed import knn
from dcai.embed.config import EmbedConfig
from dcai.review import queue as q
from dcai.runs import StageOutput
from dcai.train import crossfit
from dcai.train.fitted import Fit
from dcai.train.inputs import label_rows
from dcai.train.oof import make_augment, make_model_fn

STAGE = "embed"
REASON = "embed: neighbours disagree"


def fit_embeddings(
    x: np.ndarray, y: np.ndarray, cf: crossfit.CrossFit, cfg: EmbedConfig, *, fit: Fit
) -> tuple[np.ndarray, list]:
    """``(K, N, D)`` unit vectors: every row through each of the K fold encoders; and the fit results."""
    from dcai.train import engine

    model_fn = make_model_fn(cfg.model, cfg.dim, width=cfg.width)
    results = fit(
        model_fn, x, y, seeds=[cfg.seed * 1000 + f for f in range(cf.k)], train_masks=cf.masks,
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, augment=make_augment(cfg.augment),
        keep_best=False, loss="supcon", supcon_temperature=cfg.temperature, device=cfg.device,
    )  # fmt: skip
    emb = engine.predict(model_fn, [r.state_dict for r in results], x, device=cfg.device, logits=True)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
    return emb.astype(np.float32), results


def embed(
    table: pa.Table, cfg: EmbedConfig, workdir: Path, *, load: Callable[[pa.Table], np.ndarray], fit: Fit
) -> StageOutput:
    """The stage body: ``load(rows)`` gives the model inputs, ``fit`` trains the fold encoders."""
    started = time.time()
    lr = label_rows(table, cfg.splits, cfg.holdout_splits)
    rows, sub, holdout, classes, y, groups = lr.rows, lr.sub, lr.holdout, lr.classes, lr.y, lr.groups
    cf = crossfit.plan(len(rows), cfg.folds, seed=cfg.seed, labels=y, groups=groups, trainable=~holdout)
    cf.check()
    x = load(sub)
    loaded = time.time()
    emb, results = fit_embeddings(x, y, cf, cfg, fit=fit)
    fitted = time.time()
    nb = knn.neighbours(emb, cf.folds, y, len(classes), k=cfg.k, reference=~holdout)
    # the shares as probabilities, shrunk to the prior as far as the given labels of the scored rows ask
    alpha, prob = knn.calibrate(nb["dist"], y, nb["index"].shape[1], ~holdout)
    at = np.arange(len(y))
    nb["top_prob"], nb["given_prob"] = prob[at, nb["top"]], prob[at, y]
    noisy = (
        (nb["top"] != y)
        & (nb["top_share"] >= cfg.knn_min_share)
        & (nb["given_share"] <= cfg.knn_max_given_share)
    )
    isolated = nb["isolation"] >= 1.0 - cfg.isolated_share
    vectors = crossfit.out_of_fold(emb, cf).astype(np.float16)  # each row from the encoder that never saw it
    ids = manifest.column(sub, "id").astype(str)
    np.savez_compressed(
        workdir / "vectors.npz", ids=ids, vectors=vectors, folds=cf.folds, labels=y, classes=np.asarray(classes),
        neighbours=nb["index"], similarity=nb["similarity"].astype(np.float16), dist=nb["dist"].astype(np.float32),
        prob=prob.astype(np.float32), alpha=np.asarray(alpha),
    )  # fmt: skip
    table = write_columns(table, rows, nb, noisy, isolated, classes, cf.folds)
    flagged = np.zeros(table.num_rows, bool)
    flagged[rows[noisy & ~holdout]] = True
    queue = q.make_queue(
        table, flagged, why=REASON, suggested=manifest.column(table, "embed_top_label"),
        score=1.0 - np.nan_to_num(manifest.column(table, "embed_given_share").astype(float), nan=1.0),
    )  # fmt: skip
    q.write_queue(queue, workdir)
    scored = ~holdout
    last = [r.history[-1] if r.history else {} for r in results]
    return StageOutput(
        table,
        {
            "classes": classes,
            "rows_embedded": len(rows),
            "held_out": int(holdout.sum()),
            # how often the neighbours' majority is the given label, out of fold (a kNN classifier's accuracy)
            "knn_agreement": float((nb["top"][scored] == y[scored]).mean()) if scored.any() else float("nan"),
            "noisy": int(noisy[scored].sum()),
            "calibration_alpha": alpha,
            "isolated": int(isolated[scored].sum()),
            "queued": queue.num_rows,
            "search": "exact" if (~holdout).sum() <= knn.EXACT_MAX else "pynndescent",
            "train_nn_agreement": [round(float(h.get("acc", np.nan)), 4) for h in last],
            "train_loss": [round(float(h.get("loss", np.nan)), 4) for h in last],
            "load_seconds": round(loaded - started, 2),
            "fit_seconds": round(fitted - loaded, 2),
            "knn_seconds": round(time.time() - fitted, 2),
        },
    )


def write_columns(table, rows, nb, noisy, isolated, classes, folds) -> pa.Table:
    """``embed_*`` columns (null outside the embedded rows)."""
    cols = {
        "embed_top_label": ([classes[t] for t in nb["top"]], pa.string()),
        "embed_top_share": (nb["top_share"].tolist(), pa.float64()),
        "embed_given_share": (nb["given_share"].tolist(), pa.float64()),
        "embed_given_prob": (nb["given_prob"].tolist(), pa.float64()),
        "embed_top_prob": (nb["top_prob"].tolist(), pa.float64()),
        "embed_isolation": (nb["isolation"].tolist(), pa.float64()),
        "embed_noisy": (noisy.tolist(), pa.bool_()),
        "embed_isolated": (isolated.tolist(), pa.bool_()),
        "embed_fold": (folds.tolist(), pa.int64()),
    }
    return manifest.with_row_columns(table, rows, cols)
