"""Evaluate as a stage: train the fixed model on a run (or folders) and record the accuracies.

With ``--run`` the result is the stage ``NN-evaluate`` (manifest unchanged, metrics in
``report.json``); ``evaluate_raw`` scores the data as ingested, before any cleaning. The backend
picks where the training runs: this process, Ray Train workers, or Ray Tune trials
(:mod:`dcai.train.pipeline`, imported only for those).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from dcai import manifest, storage
from dcai.evaluate import core, sources
from dcai.evaluate.config import EvaluateConfig
from dcai.runs import Run, StageContext, StageOutput, file_hash
from dcai.storage import path as any_path
from dcai.train.engine import FitResult

STAGE, RAW_STAGE = "evaluate", "evaluate_raw"


def cache_dir(cfg: EvaluateConfig, run_dir: str | os.PathLike | None) -> Path | None:
    """Resized pixels live beside the run (``RUN/cache``), else in ``$DCAI_CACHE`` or ``~/.cache/dcai``."""
    if not cfg.cache:
        return None
    if run_dir is not None:
        return storage.cache_dir(run_dir)
    return Path(os.environ.get("DCAI_CACHE") or Path.home() / ".cache" / "dcai")


def fit_models(data: core.Prepared, cfg: EvaluateConfig, *, storage: str | None) -> list[FitResult]:
    """Every seed trained with the official recipe, where ``cfg.backend`` says."""
    if cfg.backend == "local":
        return core.fit_local(data, cfg)
    from dcai.train import pipeline as ray_train

    options = {k: v for k, v in cfg.fit_kwargs().items() if k != "epochs"}  # epochs is the spec's own field

    def spec(seeds: list[int]) -> ray_train.FitSpec:
        return ray_train.FitSpec(
            data.model_fn(),
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            seeds=seeds,
            epochs=cfg.epochs,
            options={**options, "device": cfg.device},
        )

    groups = cfg.groups()
    if cfg.backend == "train" and len(groups) > 1:
        # seed groups (models_at_once) on one elastic TorchTrainer, as the vote fits its members × folds:
        # its workers split the groups, each group stacked by the engine, every epoch checkpointed
        fitted = ray_train.fit_many(
            [spec(g) for g in groups],
            max_workers=cfg.num_workers,
            cpus_per_worker=cfg.cpus_per_worker,
            gpus_per_worker=cfg.gpus_per_worker,
            max_failures=cfg.max_failures,
            storage_path=storage,
            name=f"evaluate-{int(time.time())}",
        )
        return [r for g in fitted for r in g]
    if cfg.backend == "train":
        return ray_train.train(
            spec(cfg.seed_list),
            num_workers=cfg.num_workers,
            gpus_per_worker=cfg.gpus_per_worker,
            cpus_per_worker=cfg.cpus_per_worker,
            max_failures=cfg.max_failures,
            storage_path=storage,
            name=f"evaluate-{int(time.time())}",
        )
    by_trial = ray_train.fan_out(
        [spec(g) for g in groups],
        cpus_per_trial=cfg.cpus_per_worker,
        gpus_per_trial=cfg.gpus_per_worker,
        max_failures=cfg.max_failures,
        storage_path=storage,
        name=f"evaluate-{int(time.time())}",
    )
    return [r for g in by_trial for r in g]


def measure(train, val, tests, cfg: EvaluateConfig, *, run_dir=None) -> dict:
    data = core.prepare(train, val, tests, max_images=cfg.max_images, cache_dir=cache_dir(cfg, run_dir))
    # Ray's checkpoints: RUN/ray (a local folder or the run's object store), or storage_path (any URI)
    storage = cfg.storage_path or (str(any_path(run_dir) / "ray") if run_dir is not None else None)
    t0 = time.time()
    results = fit_models(data, cfg, storage=storage)
    return core.summarize(results, data, cfg, seconds=time.time() - t0)


def _listing(folder: str | os.PathLike | None) -> list | None:
    """What decides whether folder data changed: each file's relative path, size and mtime."""
    if folder is None:
        return None
    root = Path(folder)
    return [
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


def run(
    run_dir: str | os.PathLike | None,
    cfg: EvaluateConfig,
    *,
    data_dir: str | os.PathLike | None = None,
    test_dir: str | os.PathLike | None = None,
    stage: str = STAGE,
    manifest_stage: str | None = None,
    force: bool = False,
) -> tuple[dict, bool]:
    """Evaluate ``data_dir`` folders or the run's manifest (its newest, or ``manifest_stage`` 's).

    ``run_dir`` may be None with ``data_dir``. Returns ``(metrics, ran)``; with ``run_dir`` the metrics
    are also the stage's ``report.json``.
    """
    splits = {"train_splits": cfg.train_splits, "val_splits": cfg.val_splits, "test_splits": cfg.test_splits}

    def gather(table: pa.Table | None) -> tuple[sources.ImageList, sources.ImageList, dict]:
        if data_dir is not None:
            train, val, tests = sources.from_folders(data_dir, **splits)
        else:
            assert table is not None
            train, val, tests = sources.from_manifest(table, source=str(run_dir), **splits)
        if test_dir is not None:
            extra = sources.test_folder(test_dir)
            tests[extra.name if extra.name not in tests else f"{extra.name}_dir"] = extra
        return train, val, tests

    if run_dir is None:
        if data_dir is None:
            raise ValueError("evaluate needs run_dir or data_dir")
        train, val, tests = gather(None)
        return measure(train, val, tests, cfg), True
    r = Run(run_dir)
    source_manifest = None
    if manifest_stage is not None:
        d = r.stage_dir(manifest_stage)
        if d is None:
            raise FileNotFoundError(f"{r.root}: stage {manifest_stage!r} has not run")
        source_manifest = d / "manifest.parquet"

    def fn(table_in: pa.Table | None, ctx: StageContext) -> StageOutput:
        table = r.manifest(manifest_stage) if manifest_stage else table_in
        train, val, tests = gather(table)
        metrics = measure(train, val, tests, cfg, run_dir=r.root)
        # The manifest passes through unchanged (an empty one if --data fills an otherwise empty run).
        return StageOutput(table_in if table_in is not None else manifest.empty(), metrics)

    key = {
        "data": _listing(data_dir),
        "test": _listing(test_dir),
        "manifest": file_hash(source_manifest) if source_manifest else None,
    }
    _, report, ran = r.execute(
        stage, fn, config=cfg.to_dict(), extra_key=key, force=force, needs_input=data_dir is None
    )
    return report, ran
