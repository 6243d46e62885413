"""Ray wiring of tune: a Ray Tune search over augmentation policies under ASHA around the body in
:mod:`dcai.tune.tune`, then the winner confirmed.

Reads the run's latest manifest (passed through unchanged), draws ``trials`` policies from the space,
trains the fixed model on each (:func:`dcai.tune.trial.trial`) for at most ``epochs`` epochs while
ASHA stops the weak ones, and writes ``NN-tune/`` with ``trials.parquet`` (every trial's params,
per-epoch val accuracy, best, status) and a report whose ``best`` are AugmentConfig overrides that
``dcai augment --set tuned=true`` applies. ``backend: local`` runs the same trials here, without Ray.
"""

from __future__ import annotations

import os
import uuid

import pyarrow as pa

from dcai.runs import Run, StageContext, StageOutput
from dcai.tune.config import TuneConfig
from dcai.tune.trial import TrialData, trial
from dcai.tune.tune import STAGE, device_for, local_trials, tune_table


def _ray_trial(config: dict, params_list: list[dict], data: TrialData, options: dict) -> None:
    from ray import tune

    def report(metrics: dict) -> None:
        tune.report(metrics)

    trial(params_list[config["index"]], data, report=report, **options)


def run_ray(
    params_list: list[dict], data: TrialData, cfg: TuneConfig, *, epochs: int, asha: bool, storage: str
) -> list[list[float]]:
    """Val accuracy by epoch of each configuration, as Ray Tune trials (ASHA stops some when ``asha``)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from dcai.ray_runtime import init_ray, quiet_tune, trial_progress

    quiet_tune()
    init_ray()
    options = {"epochs": epochs, "per_class": cfg.per_class, "seed": cfg.seed, "seeds": cfg.seeds_per_trial,
               "device": device_for(cfg)}  # fmt: skip
    trainable = tune.with_resources(
        tune.with_parameters(_ray_trial, params_list=params_list, data=data, options=options),
        {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial},
    )
    scheduler = (
        ASHAScheduler(max_t=epochs, grace_period=cfg.grace_period, reduction_factor=cfg.reduction_factor)
        if asha
        else None
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(params_list))))},
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(
            name=f"tune-{uuid.uuid4().hex[:12]}",  # fresh: a same-name run would resume the old one
            storage_path=storage,
            verbose=0,
            callbacks=[trial_progress("tune", n_trials=len(params_list))],
        ),
    )
    grid = tuner.fit()
    curves: list[list[float]] = [[] for _ in params_list]
    for i in range(len(grid)):
        result = grid[i]
        if result.error is not None:
            raise result.error
        df = result.metrics_dataframe
        values = [] if df is None or "val_acc" not in df else df.sort_values("epoch")["val_acc"]
        curves[(result.config or {})["index"]] = [float(v) for v in values]
    return curves


def run(run_dir: str | os.PathLike, cfg: TuneConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Search augmentation policies on the run's latest manifest. Returns ``(report, ran)``."""

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        run_trials = run_ray if cfg.backend == "tune" else local_trials
        return tune_table(table, cfg, ctx, run_trials=run_trials)

    _, report, ran = Run(run_dir).execute(STAGE, stage, config=cfg.to_dict(), force=force)
    return report, ran
