"""Ray wiring of the gan stage: the GAN trained by a Ray ``TorchTrainer`` (GPU when present, a checkpoint
every ``checkpoint_every`` iterations, resumed by a rerun of the same name), the search as Ray Tune
trials under ASHA. The body is :mod:`dcai.gan.gan`; ``backend: local`` runs it without Ray.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import torch

from dcai.gan import search, train
from dcai.gan.config import GanConfig
from dcai.gan.data import GanData
from dcai.gan.gan import STAGE, gan_table, local_trials
from dcai.runs import Run, StageContext, StageOutput


def _train_loop(config: dict) -> None:
    """One Ray Train worker: the GAN from the last reported checkpoint (if any) to ``iterations``."""
    import ray
    import ray.train
    import ray.train.torch

    data: GanData = ray.get(config["data"])
    settings: train.Settings = config["settings"]
    device = config.get("device") or ray.train.torch.get_device()
    assert data.classifier_state is not None
    trainer = train.GanTrainer(
        data.gray, data.trial.y_train, data.classifier_state, num_classes=len(data.classes), settings=settings,
        device=device,
    )  # fmt: skip
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            trainer.load_state_dict(train.load(Path(d) / train.CHECKPOINT))

    def report(t: train.GanTrainer) -> None:
        last = t.history[-1] if t.history else {}
        with tempfile.TemporaryDirectory() as d:
            train.save(t.state_dict(), Path(d) / train.CHECKPOINT)
            ray.train.report(
                {"step": t.step, **{k: v for k, v in last.items() if k != "step"}},
                checkpoint=ray.train.Checkpoint.from_directory(d),
            )

    trainer.train(settings.iterations, every=config["every"], on_checkpoint=report)


def ray_gan(data: GanData, settings: train.Settings, *, name: str, cfg: GanConfig, storage: str) -> dict:
    """Train on one Ray Train worker; the same ``name`` under ``storage`` resumes from its last checkpoint."""
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from dcai.ray_runtime import init_ray
    from dcai.train.pipeline import gpus_for

    init_ray()
    gpus = gpus_for(cfg.gpus, what="gpus")
    use_gpu = gpus > 0
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={
            "data": ray.put(data),
            "settings": settings,
            "every": cfg.checkpoint_every,
            "device": None if use_gpu else "cpu",
        },  # fmt: skip
        scaling_config=ray.train.ScalingConfig(
            num_workers=1,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": 1, **({"GPU": gpus} if use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=storage,
            failure_config=ray.train.FailureConfig(max_failures=2),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    assert result.checkpoint is not None
    with result.checkpoint.as_directory() as d:
        return train.load(Path(d) / train.CHECKPOINT)


def _ray_trial(config: dict, params_list: list[dict], data: GanData, cfg: GanConfig) -> None:
    from ray import tune

    device = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    search.trial(params_list[config["index"]], data, cfg=cfg, report=lambda m: tune.report(m), device=device)


def ray_trials(params_list: list[dict], data: GanData, cfg: GanConfig, *, storage: str) -> list[dict]:
    """Each configuration as a Ray Tune trial, ASHA stopping on ``gain``; results as :func:`search.trial`'s."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from dcai.ray_runtime import init_ray, quiet_tune, trial_progress

    quiet_tune()
    init_ray()
    gpu = 0.5 if ray.cluster_resources().get("GPU", 0) >= 1 and cfg.device != "cpu" else 0.0
    tuner = tune.Tuner(
        tune.with_resources(
            tune.with_parameters(_ray_trial, params_list=params_list, data=data, cfg=cfg),
            {"cpu": 1, "gpu": gpu},
        ),
        param_space={"index": tune.grid_search(list(range(len(params_list))))},
        tune_config=tune.TuneConfig(
            metric="gain",
            mode="max",
            scheduler=ASHAScheduler(
                max_t=cfg.epochs,
                grace_period=cfg.grace_period,
                reduction_factor=cfg.reduction_factor,
                time_attr="epoch",
            ),  # fmt: skip
        ),
        run_config=tune.RunConfig(
            name=f"gan-search-{uuid.uuid4().hex[:12]}",
            storage_path=storage,
            verbose=0,
            callbacks=[trial_progress("gan search", n_trials=len(params_list))],
        ),
    )
    grid = tuner.fit()
    out: list[dict] = [{} for _ in params_list]
    for i in range(len(grid)):
        result = grid[i]
        if result.error is not None:
            raise result.error
        df = result.metrics_dataframe
        rows = [] if df is None or "gain" not in df else df.sort_values("epoch").to_dict("records")
        curve = [{k: float(r[k]) for k in ("epoch", "gain", "val_acc", "aug_val_acc")} for r in rows]
        last = rows[-1] if rows else {}
        out[(result.config or {})["index"]] = {
            "curve": curve, **{k: int(last.get(k, 0)) for k in ("kept", "drawn", "invalid")},
        }  # fmt: skip
    return out


def run(run_dir: str | os.PathLike, cfg: GanConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Train the GAN on the run's latest manifest and append its checked images. Returns ``(report, ran)``."""
    from dcai import storage as storage_mod

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        if cfg.backend == "local":
            return gan_table(table, cfg, ctx, run_trials=local_trials)
        storage = str(storage_mod.path(cfg.storage_path or ctx.run.root / "ray"))
        return gan_table(
            table, cfg, ctx,
            train_gan=lambda d, s, *, name, cfg: ray_gan(d, s, name=name, cfg=cfg, storage=storage),
            run_trials=lambda p, d, c: ray_trials(p, d, c, storage=storage),
        )  # fmt: skip

    _, report, ran = Run(run_dir).execute(STAGE, stage, config=cfg.to_dict(), force=force)
    return report, ran
