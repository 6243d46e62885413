"""Ray wiring of the engine: a ``TorchTrainer`` whose workers split the models, and a Tune fan-out.

- :func:`train`: one :class:`FitSpec` (K models) on ``num_workers`` Ray Train workers, each fitting
  its share of the K models with :class:`dcai.train.engine.Trainer`. Every epoch each worker writes
  its whole trainer state into the reported checkpoint (``rank<r>.pt``; Ray merges the workers'
  files into one directory); a worker that dies is restarted up to ``max_failures`` times and
  resumes from the last epoch's checkpoint via ``ray.train.get_checkpoint()``.
- :func:`fan_out`: many specs (seeds × folds × architectures × trials) as Ray Tune trials, each with
  ``{"cpu": c, "gpu": g}`` (fractional GPUs pack several trials on one device), checkpointed and
  resumed the same way.

Both return :class:`dcai.train.engine.FitResult` s in the order of the specs' seeds. The engine
itself never imports Ray, so the same training runs as plain torch on a machine without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcai.train.engine import FitResult, Trainer
from dcai.train.stack import ModelFn


@dataclass
class FitSpec:
    """Everything :func:`dcai.train.engine.fit` takes, as one picklable object shipped to workers."""

    model_fn: ModelFn  # picklable: a module-level function or functools.partial
    x_train: Any
    y_train: Any
    x_val: Any = None
    y_val: Any = None
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 100
    # other keywords of fit(): batch_size, lr, shuffle, augment, device, ...
    options: dict = field(default_factory=dict)
    train_masks: Any = None  # (K, N) bool
    val_masks: Any = None  # (K, N_val) bool
    on_epoch_start: Callable[[int, int], None] | None = None  # (rank, epoch about to run); progress or tests

    def part(self, rows: np.ndarray, *, device: str | torch.device) -> Trainer:
        """A trainer for models ``rows`` (indices into ``seeds``) on ``device``."""
        pick = lambda m: None if m is None else np.asarray(m)[rows]  # noqa: E731
        return Trainer(
            self.model_fn,
            self.x_train,
            self.y_train,
            self.x_val,
            self.y_val,
            seeds=[self.seeds[i] for i in rows],
            train_masks=pick(self.train_masks),
            val_masks=pick(self.val_masks),
            **{"device": device, **self.options},
        )


def _epochs(spec: FitSpec, trainer: Trainer, rank: int, report: Callable[[dict, str], None]) -> None:
    """Train to ``spec.epochs``, calling ``report(metrics, checkpoint_dir)`` after every epoch."""
    while trainer.epoch < spec.epochs:
        if spec.on_epoch_start is not None:
            spec.on_epoch_start(rank, trainer.epoch)
        m = trainer.train_epoch()
        with tempfile.TemporaryDirectory() as d:
            torch.save(trainer.state_dict(), Path(d) / f"rank{rank}.pt")
            if trainer.epoch == spec.epochs:
                torch.save(trainer.results(), Path(d) / f"rank{rank}-results.pt")
            metrics = {"epoch": trainer.epoch, "loss": float(np.mean(m["loss"]))}
            if "val_acc" in m:
                metrics["val_acc"] = float(np.mean(m["val_acc"]))
            report(metrics, d)


def _resume(trainer: Trainer, checkpoint, rank: int) -> None:
    if checkpoint is None:
        return
    with checkpoint.as_directory() as d:
        path = Path(d) / f"rank{rank}.pt"
        if path.exists():
            trainer.load_state_dict(torch.load(path, weights_only=False))


def _train_loop(config: dict) -> None:
    import ray
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    spec: FitSpec = ray.get(config["spec"])
    rows = np.array_split(np.arange(len(spec.seeds)), world)[rank]
    trainer = spec.part(rows, device=config.get("device") or ray.train.torch.get_device())
    _resume(trainer, ray.train.get_checkpoint(), rank)

    def report(metrics: dict, d: str) -> None:
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))

    _epochs(spec, trainer, rank, report)


def _results(checkpoint, parts: int) -> list[FitResult]:
    out: list[FitResult] = []
    with checkpoint.as_directory() as d:
        for rank in range(parts):
            out += torch.load(Path(d) / f"rank{rank}-results.pt", weights_only=False)
    return out


def _storage(storage_path: str | os.PathLike | None) -> str:
    return str(Path(storage_path or Path.home() / "ray_results").resolve())


def train(
    spec: FitSpec,
    *,
    num_workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    max_failures: int = 2,
    storage_path: str | os.PathLike | None = None,
    name: str = "dcai-train",
    device: str | None = None,
) -> list[FitResult]:
    """Fit ``spec`` with a Ray ``TorchTrainer``; workers split the K models (at most K workers), each
    asking for ``gpus_per_worker`` of a GPU (a fraction packs several workers on one device)."""
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from dcai.ray_runtime import init_ray

    init_ray()
    workers = max(1, min(num_workers, len(spec.seeds)))
    use_gpu = gpus_per_worker > 0
    resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config={"spec": ray.put(spec), "device": device or ("cpu" if not use_gpu else None)},
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=_storage(storage_path),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return _results(result.checkpoint, workers)


def _trial(config: dict, specs: list[FitSpec]) -> None:
    from ray import tune

    spec = specs[config["index"]]
    trainer = spec.part(np.arange(len(spec.seeds)), device=spec.options.get("device", "auto"))
    _resume(trainer, tune.get_checkpoint(), 0)

    def report(metrics: dict, d: str) -> None:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    _epochs(spec, trainer, 0, report)


def fan_out(
    specs: list[FitSpec],
    *,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_failures: int = 2,
    storage_path: str | os.PathLike | None = None,
    name: str = "dcai-fan-out",
) -> list[list[FitResult]]:
    """One Ray Tune trial per spec, ``gpus_per_trial`` of a GPU each; results in the order of ``specs``."""
    from ray import tune

    from dcai.ray_runtime import init_ray

    # Tune's new console output ignores verbose=0 and draws tables into the stage's log; the old one obeys.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    init_ray()
    trainable = tune.with_resources(
        tune.with_parameters(_trial, specs=specs), {"cpu": cpus_per_trial, "gpu": gpus_per_trial}
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(specs))))},
        tune_config=tune.TuneConfig(metric="epoch", mode="max"),
        run_config=tune.RunConfig(
            name=name,
            storage_path=_storage(storage_path),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )
    grid = tuner.fit()
    out: list[list[FitResult]] = [[] for _ in specs]
    for i in range(len(grid)):
        result = grid[i]
        if result.error is not None:
            raise result.error
        out[(result.config or {})["index"]] = _results(result.checkpoint, 1)
    return out


def gpus_for(requested: float, *, what: str = "gpus") -> float:
    """``requested`` GPUs per fit, or for -1 ("auto") one when the Ray cluster has a GPU *now*, else none.

    "auto" is for a cluster whose GPUs are already up: it reads ``ray.cluster_resources()`` once, when the
    stage starts, so an autoscaling cluster whose GPU group sits at zero nodes gets 0 and trains on CPUs.
    There, ask explicitly (``dcai/configs/competition-gpu.yaml``): a task that requests a GPU is what makes
    the autoscaler start a GPU node."""
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    if requested >= 0:
        return requested
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return 1.0
    print(
        f"   {what}=-1 (auto): no GPU in the cluster now, training on CPUs; on an autoscaling cluster "
        f"ask for GPUs explicitly (--set {what}=0.5, or competition-gpu.yaml)",
        flush=True,
    )
    return 0.0
