"""The tune stage's body, without Ray: draw policies from the space, train the fixed model on each (a
``run_trials`` passed in: Ray Tune trials under ASHA, or one after another here), pick the winner,
confirm it over the full schedule. The manifest passes through; ``trials.parquet`` holds every trial.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dcai import manifest
from dcai import storage as storage_mod
from dcai.augment import validity
from dcai.augment.augment import parents_of
from dcai.augment.config import AugmentConfig
from dcai.config import ConfigError
from dcai.runs import StageContext, StageOutput
from dcai.tune import search
from dcai.tune.config import CHECKED_SOURCES, TuneConfig
from dcai.tune.trial import TrialData, trial

STAGE = "tune"
TRIALS_FILE = "trials.parquet"
# run_trials(policies, data, cfg, *, epochs, asha, storage) -> val accuracy by epoch, one list a policy
RunTrials = Callable[..., list[list[float]]]


def load_data(table: pa.Table, cfg: TuneConfig, *, run_dir: storage_mod.AnyPath) -> TrialData:
    """The run's augment parents (active train rows, originals) and its val split, decoded once."""
    train = table.filter(pa.array(parents_of(table, AugmentConfig())))
    val = manifest.active(table)
    val = val.filter(pa.array(manifest.column(val, "split") == manifest.VAL))
    if train.num_rows == 0 or val.num_rows == 0:
        raise ConfigError(
            f"{run_dir}: tune needs train and val rows, found {train.num_rows} train / {val.num_rows} val"
        )
    if cfg.train_subset and cfg.train_subset < train.num_rows:
        rng = np.random.default_rng(cfg.seed)
        train = train.take(pa.array(np.sort(rng.choice(train.num_rows, cfg.train_subset, replace=False))))
    classes = manifest.classes(table)
    data = TrialData.from_tables(train, val, classes=classes, run_dir=run_dir)
    if "embed_isolated" in train.column_names:  # embed's edge cases, which edge_case_weight favours
        data.isolated = np.array([v is True for v in train.column("embed_isolated").to_pylist()], bool)
    return data


def device_for(cfg: TuneConfig) -> str:
    if cfg.device != "auto":
        return cfg.device
    if cfg.backend == "tune":  # a Ray trial may use a GPU only when it reserved one
        return "cuda" if cfg.gpus_per_trial > 0 else "cpu"
    from dcai.train.engine import resolve_device

    return str(resolve_device("auto"))


def local_trials(
    params_list: list[dict], data: TrialData, cfg: TuneConfig, *, epochs: int, asha: bool, storage: str
) -> list[list[float]]:
    """Val accuracy by epoch of each configuration, one trial after another in this process (ASHA's
    stopping rule replayed by ``search.run_local``); ``storage`` is unused."""
    fn = partial(
        trial,
        data=data,
        epochs=epochs,
        per_class=cfg.per_class,
        seed=cfg.seed,
        seeds=cfg.seeds_per_trial,
        device=device_for(cfg),
    )
    done = search.run_local(
        params_list,
        lambda p, report: fn(p, report=report),
        max_t=epochs,
        # without ASHA the first rung sits past the last epoch: nothing is stopped early
        grace_period=cfg.grace_period if asha else epochs + 1,
        reduction_factor=cfg.reduction_factor,
    )
    return [d["val_acc"] for d in done]


def _trials_table(trials: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "trial": t["trial"],
                "params": json.dumps(t["params"], sort_keys=True),
                **{f"param.{k}": float(v) for k, v in t["params"].items()},
                "val_acc": t["val_acc"],
                "best": t["best"],
                "epochs_run": t["epochs_run"],
                "status": "stopped" if t["stopped_early"] else "completed",
            }
            for t in trials
        ]
    )


def tune_table(
    table: pa.Table, cfg: TuneConfig, ctx: StageContext, *, run_trials: RunTrials = local_trials
) -> StageOutput:
    """The stage body: search, pick the winner, confirm it; the manifest passes through unchanged.
    ``run_trials`` trains the sampled policies (``pipeline.run_ray``: Ray Tune; :func:`local_trials`: here)."""
    t0 = time.time()
    data = load_data(table, cfg, run_dir=ctx.run.root)
    if any(f"sources.{s}" in cfg.space for s in CHECKED_SOURCES):  # trained once, shared by every trial
        data.classify = validity.load_factory(cfg.classifier)(table, classes=data.classes)
    storage = str(storage_mod.path(cfg.storage_path or ctx.run.root / "ray"))  # any pyarrow.fs URI
    params_list = search.sample(cfg.space, cfg.trials, seed=cfg.seed)
    curves = run_trials(params_list, data, cfg, epochs=cfg.epochs, asha=True, storage=storage)
    trials = search.summarize(params_list, curves, epochs=cfg.epochs)
    pq.write_table(_trials_table(trials), ctx.workdir / TRIALS_FILE)
    best = search.winner(trials)
    metrics: dict[str, Any] = {
        "backend": cfg.backend,
        "classes": data.classes,
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "trials": trials,
        "best_trial": best["trial"],
        "best_params": best["params"],
        "best": search.overrides(best["params"], per_class=cfg.per_class),
        "search_seconds": round(time.time() - t0, 1),
    }
    if cfg.confirm_epochs:
        # the winner over the full schedule, beside the same training without any added image
        baseline = {k: 0.0 for k in best["params"] if k.startswith("sources.")}
        pair = [best["params"]] + ([{**best["params"], **baseline}] if cfg.confirm_baseline else [])
        t1 = time.time()
        confirm = run_trials(pair, data, cfg, epochs=cfg.confirm_epochs, asha=False, storage=storage)
        metrics["confirm"] = {
            "epochs": cfg.confirm_epochs,
            "tuned_val_acc": round(max(confirm[0]), 4),
            "baseline_val_acc": round(max(confirm[1]), 4) if len(confirm) > 1 else None,
            "curves": {name: [round(a, 4) for a in c] for name, c in zip(("tuned", "baseline"), confirm)},
            "seconds": round(time.time() - t1, 1),
        }
    return StageOutput(table, metrics)
