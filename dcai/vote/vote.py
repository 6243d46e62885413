"""The vote stage's body, without Ray: the rows to vote on → out-of-fold member probabilities (from a
fan-out passed in) → scores, noisy / ambiguous flags, ``vote_*`` columns and a review queue.

Each member × group of folds is one trial (:func:`trials`); ``pipeline.fan_out`` runs them as Ray Tune
trials. Rounds (``vote.rounds``) refit without the last round's noisy rows. An earlier vote of the run
trained the same way is re-flagged instead of retrained (:func:`reuse`).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.review import queue as q
from dcai.runs import StageOutput, fingerprint
from dcai.storage import AnyPath
from dcai.train import crossfit
from dcai.train.inputs import label_rows
from dcai.vote import evidence
from dcai.vote import rounds as vr
from dcai.vote import scores as vs
from dcai.vote.config import FLAG_OPTIONS, VoteConfig

# fan_out(x, y (N,), plan, *, num_classes) -> ((M, N, C) out-of-fold probabilities, trial info); x is what
# load gave: (N, H, W, C) images, or a handle on the run's tensor dataset (dcai.tensors.store.Tensors)
FanOut = Callable[..., tuple[np.ndarray, list]]


def trials(cfg: VoteConfig) -> list[dict]:
    """One trial per member × group of folds (``folds_per_trial``; 0 = all folds in one group)."""
    per = cfg.folds_per_trial or cfg.folds
    groups = [list(range(i, min(i + per, cfg.folds))) for i in range(0, cfg.folds, per)]
    return [{"member": m, "folds": g} for m in cfg.members for g in groups]


def vote(
    table: pa.Table,
    cfg: VoteConfig,
    workdir: Path,
    *,
    load: Callable[[pa.Table], Any],
    fan_out: FanOut,
    previous: AnyPath | None = None,
) -> StageOutput:
    """The stage body: ``load(rows)`` gives their model inputs, ``fan_out`` fits every trial and predicts
    with each fold model; ``previous``: the run's earlier vote stage, whose probabilities are reused when
    the training would be the same. Writes ``probs.npz`` and the queue into ``workdir``."""
    started = time.time()
    lr = label_rows(table, cfg.splits, cfg.holdout_splits)
    rows, sub, holdout, classes, y, groups = lr.rows, lr.sub, lr.holdout, lr.classes, lr.y, lr.groups
    cf = crossfit.plan(len(rows), cfg.folds, seed=cfg.seed, labels=y, groups=groups, trainable=~holdout)
    cf.check()
    ids = manifest.column(sub, "id").astype(str)
    key = train_key(cfg, ids, y)
    probs_by_round, info, per_round = reuse(previous, key)
    loaded = time.time()
    if probs_by_round is None:
        x = load(sub)
        loaded = time.time()

        def fit(plan: crossfit.CrossFit, y_train: np.ndarray) -> tuple[np.ndarray, list]:
            return fan_out(x, y_train, plan, num_classes=len(classes))  # (M, N, C), trial info

        trusted = np.array([bool(v) for v in sub.column("trusted").to_pylist()], dtype=bool)
        probs_by_round, per_round, infos = vr.run_rounds(fit, y, cf, cfg, protected=trusted, scored=~holdout)
        info = [{**t, "round": r + 1} for r, trial_info in enumerate(infos) for t in trial_info]
    probs = cfg.scored(probs_by_round)  # (M, N, C): every round averaged, or the last
    arrays: dict[str, Any] = dict(
        probs=probs.astype(np.float32), labels=y, folds=cf.folds, ids=ids, classes=np.asarray(classes),
        members=np.asarray(cfg.members), key=np.asarray(key), info=np.asarray(json.dumps(info)),
        rounds=np.asarray(json.dumps(per_round)),
    )  # fmt: skip
    if len(probs_by_round) > 1:  # (R, M, N, C): every round's flags can be scored afterwards
        arrays["round_probs"] = np.stack(probs_by_round).astype(np.float32)
    fit_rows = ~holdout
    member_acc, kept, set_aside = evidence.usable(probs, y, fit_rows, names=cfg.members, **cfg.member_guard())
    arrays["kept"] = kept
    used = evidence.kept_probs(probs, kept)
    s = vs.vote_scores(used, y)
    # calibrated probabilities of the top and the given label: what clean's expected precision reads
    temperature = evidence.fit_temperature(used.mean(0), y, fit_rows & s["scored"])
    cal = evidence.calibrate(used.mean(0), temperature)
    at = np.arange(len(y))
    s["top_cal"] = np.where(s["scored"], cal[at, np.maximum(s["top"], 0)], np.nan)
    s["given_cal"] = np.where(s["scored"], cal[at, y], np.nan)
    arrays["temperature"] = np.asarray(temperature)
    np.savez_compressed(workdir / "probs.npz", **arrays)
    for name, reason in set_aside.items():
        print(f"   vote: member {name} set aside: {reason}", flush=True)
    noisy, ambiguous = vs.flags(s, y, **cfg.flag_options())
    if per_round:  # re-flagged probabilities (new thresholds, same training) count the new flags
        per_round[-1] = {**per_round[-1], "noisy": int(noisy.sum()), "ambiguous": int(ambiguous.sum())}
    table = write_columns(table, rows, s, noisy, ambiguous, classes, cf.folds)
    flagged = np.zeros(table.num_rows, bool)
    flagged[rows[noisy | ambiguous]] = True
    why = np.full(table.num_rows, None, dtype=object)
    why[rows[noisy]], why[rows[ambiguous]] = "vote: noisy", "vote: ambiguous"
    queue = q.make_queue(
        table, flagged, why=why, suggested=manifest.column(table, "vote_top_label"),
        score=1.0 - np.nan_to_num(manifest.column(table, "vote_given_prob").astype(float), nan=1.0),
    )  # fmt: skip
    q.write_queue(queue, workdir)
    return StageOutput(
        table,
        {
            "classes": classes,
            "rows_voted": len(rows),
            "members": list(cfg.members),
            "trials": info,
            "member_oof_accuracy": {m: float(a) for m, a in zip(cfg.members, member_acc)},
            "members_kept": [m for m, k in zip(cfg.members, kept) if k],
            "members_set_aside": set_aside,
            "ensemble_oof_accuracy": float((s["top"][fit_rows] == y[fit_rows]).mean()),
            "temperature": temperature,
            "held_out": int(holdout.sum()),
            "noisy": int(noisy.sum()),
            "ambiguous": int(ambiguous.sum()),
            "rounds": per_round,
            "queued": queue.num_rows,
            "load_seconds": round(loaded - started, 2),
            "fan_out_seconds": round(time.time() - loaded, 2),
        },
    )


def train_key(cfg: VoteConfig, ids: np.ndarray, y: np.ndarray) -> str:
    """What the members' out-of-fold probabilities depend on: the training options, the rows, their labels."""
    # with one round these only re-flag the same probabilities: the key of a vote from before rounds
    one_round = (*FLAG_OPTIONS, "rounds", "round_flagged", "rounds_scored")
    options = {k: v for k, v in cfg.to_dict().items() if cfg.rounds > 1 or k not in one_round}
    # how many actors predict changes nothing; the driver's inputs are what votes before "inputs" used
    options.pop("predict_actors", None)
    if options.get("inputs") == "driver":
        options.pop("inputs")
    return fingerprint({"options": options, "ids": ids.tolist(), "labels": y.tolist()})


def reuse(previous, key: str) -> tuple[list[np.ndarray] | None, list, list]:
    """An earlier vote of this run trained the same way: ``(probabilities (M, N, C) per round, trial info,
    round summaries)``, else ``(None, [], [])``."""
    path = previous / "probs.npz" if previous is not None else None
    if path is None or not path.exists():
        return None, [], []
    with np.load(io.BytesIO(path.read_bytes())) as z:  # a local folder or object storage
        if "key" not in z or str(z["key"]) != key:
            return None, [], []
        print("   vote: same training as the last vote; re-flagging its probabilities", flush=True)
        by_round = (
            list(z["round_probs"].astype(np.float64))
            if "round_probs" in z
            else [z["probs"].astype(np.float64)]
        )
        info = json.loads(str(z["info"])) if "info" in z else []
        return by_round, info, json.loads(str(z["rounds"])) if "rounds" in z else []


def write_columns(table, rows, s, noisy, ambiguous, classes, folds) -> pa.Table:
    """Scores and flags as ``vote_*`` manifest columns (null outside the voted rows)."""
    top = [classes[t] if t >= 0 else None for t in s["top"]]
    cols = {
        "vote_top_label": (top, pa.string()),
        "vote_top_prob": (s["top_prob"].tolist(), pa.float64()),
        "vote_given_prob": (s["given_prob"].tolist(), pa.float64()),
        "vote_agreement": (s["agreement"].tolist(), pa.float64()),
        "vote_consensus": (s["consensus"].tolist(), pa.float64()),
        "vote_entropy": (s["entropy"].tolist(), pa.float64()),
        "vote_top_cal": (s["top_cal"].tolist(), pa.float64()),
        "vote_given_cal": (s["given_cal"].tolist(), pa.float64()),
        "vote_noisy": (noisy.tolist(), pa.bool_()),
        "vote_ambiguous": (ambiguous.tolist(), pa.bool_()),
        "vote_fold": (folds.tolist(), pa.int64()),
    }
    return manifest.with_row_columns(table, rows, cols)
