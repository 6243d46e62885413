"""The investigate stage's body, without Ray: the rows to investigate → the paper's auxiliary-model loop
(``loop``: rounds of out-of-fold fits, certify the K lowest-loss, queue the L highest) → manifest columns,
the review queue and ``probs.npy``. The fold models are fitted by a ``fit`` passed in (the engine's
signature; ``pipeline.ray_fit`` runs each as a Ray Train fit); a truth file may answer the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.investigate import loop, rounds
from dcai.investigate.config import InvestigateConfig
from dcai.review import decisions as dec
from dcai.review import queue as q
from dcai.runs import StageOutput
from dcai.train.inputs import label_rows
from dcai.train.oof import cross_fit, make_model_fn

STAGE = "investigate"


def _reviewer(sub: pa.Table, truth: dec.TruthReviewer, index: dict[str, int], log: dict):
    ids = manifest.column(sub, "id")
    row_of = {rid: i for i, rid in enumerate(ids)}

    def review(queued: np.ndarray, suggested: np.ndarray) -> dict[int, tuple[str, int | None]]:
        answers = truth.answer(sub, [ids[i] for i in queued])
        log.update(answers)
        return {
            row_of[rid]: (d.action, index.get(d.label) if d.label else None)
            for rid, d in answers.items()
            if d.action != dec.RELABEL or d.label in index
        }

    return review


def investigate(
    table: pa.Table,
    cfg: InvestigateConfig,
    workdir: Path,
    *,
    load: Callable[[pa.Table], np.ndarray],
    fit: Callable,
    truth_csv: str | None = None,
) -> StageOutput:
    """The stage body: ``load(rows)`` gives their model inputs, ``fit`` (``dcai.train.engine.fit``'s
    signature) trains each round's fold models; ``truth_csv`` answers the queue (a simulated reviewer)."""
    lr = label_rows(table, cfg.splits, cfg.holdout_splits)
    rows, sub, holdout, classes, y, groups = lr.rows, lr.sub, lr.holdout, lr.classes, lr.y, lr.groups
    trusted = np.array([bool(v) for v in sub.column("trusted").to_pylist()], dtype=bool)
    x = load(sub)
    model_fn = make_model_fn(cfg.model, len(classes), width=cfg.width)

    fits: list[int] = []

    def score(cf, labels):
        fits.append(len(fits) + 1)  # new seeds every round: new models, never a resumed old one
        return cross_fit(
            model_fn, x, labels, cf, seed=cfg.seed * 100 + len(fits), epochs=cfg.epochs,
            batch_size=cfg.batch_size, lr=cfg.lr, augment=cfg.augment, device=cfg.device, fit=fit,
        )  # fmt: skip

    reviewer, truth = None, None
    answers: dict[str, dec.Decision] = {}
    if truth_csv:
        tr = dec.TruthReviewer.from_csv(truth_csv)
        index = {c: i for i, c in enumerate(classes)}
        reviewer = _reviewer(sub, tr, index, answers)
        known = tr.rows(sub)
        truth = np.full(len(rows), loop.UNKNOWN, np.int64)
        for i, lab in known.items():
            truth[i] = index.get(lab, loop.JUNK) if lab is not None else loop.JUNK
    res = loop.run_loop(
        y, trusted=trusted, active=np.ones(len(rows), bool), score=score, cfg=cfg, groups=groups, holdout=holdout,
        reviewer=reviewer, truth=truth, log=lambda m: print(f"   investigate {m}", flush=True),
    )  # fmt: skip
    np.save(workdir / "probs.npy", res.probs.astype(np.float32))
    table = write_columns(table, rows, res, classes)
    table = dec.apply_decisions(table, answers, stage=STAGE, who="reviewer")
    queued = np.zeros(table.num_rows, bool)
    queued[rows[res.state.status == rounds.QUEUED]] = True
    queue = q.make_queue(
        table,
        queued,
        why="investigate: high auxiliary loss",
        suggested=manifest.column(table, "suggested_label"),
        score=manifest.column(table, "aux_loss").astype(float),
    )
    q.write_queue(queue, workdir)
    status = [rounds.NAMES[s] for s in res.state.status]
    return StageOutput(
        table,
        {
            "classes": classes,
            "rows_investigated": len(rows),
            "rounds": res.table,
            "status": {s: status.count(s) for s in rounds.NAMES if s in status},
            "reviewed": {
                k: sum(d.action == k for d in answers.values()) for k in ("keep", "relabel", "remove")
            },
            "queued": queue.num_rows,
            "simulated_reviewer": str(truth_csv) if truth_csv else None,
        },
    )


def write_columns(table: pa.Table, rows: np.ndarray, res: loop.LoopResult, classes: list[str]) -> pa.Table:
    """The loop's per-row results as manifest columns (null outside the investigated rows)."""
    probs = res.probs if res.probs.shape[1] else np.full((len(rows), len(classes)), np.nan)
    scored = ~np.isnan(probs).any(axis=1)
    top = np.nan_to_num(probs, nan=0.0).argmax(axis=1)
    loss = rounds.loss_of(probs, res.state.labels)
    status = res.state.status
    certified = np.isin(status, (rounds.CERTIFIED, rounds.TRUSTED)) | (status == rounds.REVIEWED)
    cols = {
        "aux_loss": (np.where(scored, loss, np.nan).tolist(), pa.float64()),
        "aux_top_prob": (np.where(scored, probs[np.arange(len(top)), top], np.nan).tolist(), pa.float64()),
        "suggested_label": ([classes[t] if s else None for t, s in zip(top, scored)], pa.string()),
        "certified": (certified.tolist(), pa.bool_()),
        "investigate_status": ([rounds.NAMES[s] for s in status], pa.string()),
        "investigate_round": (res.state.round_of.tolist(), pa.int64()),
    }
    return manifest.with_row_columns(table, rows, cols)
