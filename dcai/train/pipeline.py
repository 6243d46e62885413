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

import json
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
    # (N, H, W, C) images, or a handle with .load() -> them (dcai.tensors.store.Tensors): the worker reads
    # the run's tensor dataset itself, so the driver never holds the pixels
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
    # (rank, or the spec's index under fit_many; epoch about to run): progress or tests
    on_epoch_start: Callable[[int, int], None] | None = None

    def part(self, rows: np.ndarray, *, device: str | torch.device) -> Trainer:
        """A trainer for models ``rows`` (indices into ``seeds``) on ``device``."""
        pick = lambda m: None if m is None else np.asarray(m)[rows]  # noqa: E731
        return Trainer(
            self.model_fn,
            self.x_train.load() if hasattr(self.x_train, "load") else self.x_train,
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
    """Where Ray Train / Tune keep their runs: a local folder or any pyarrow.fs URI (``s3://``)."""
    from dcai import storage

    return str(storage.path(storage_path or Path.home() / "ray_results"))


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


def _owned(n: int, rank: int, world: int) -> list[int]:
    """The specs worker ``rank`` of ``world`` fits, in order (round robin: big and small members mix)."""
    return list(range(rank, n, world))


def _read_progress(checkpoint, n: int) -> tuple[dict[int, int], dict[int, bytes]]:
    """``({spec: epochs done}, {spec: trainer state bytes})`` from the last merged checkpoint."""
    done: dict[int, int] = {}
    states: dict[int, bytes] = {}
    if checkpoint is None:
        return done, states
    with checkpoint.as_directory() as d:
        for i in range(n):
            p = Path(d) / f"spec{i}.json"
            if p.exists():
                done[i] = int(json.loads(p.read_text())["epoch"])
            if (Path(d) / f"spec{i}.pt").exists():
                states[i] = (Path(d) / f"spec{i}.pt").read_bytes()
    return done, states


def _many_loop(config: dict) -> None:
    """One Ray Train worker of :func:`fit_many`: fits its share of the specs one after another, one
    epoch per step, and reports a checkpoint every step.

    Every worker reports the same number of times (the slowest worker's remaining epochs), as Ray Train
    expects of its workers. The checkpoint holds, per spec, the epochs done (``spec<i>.json``) and, for
    a started spec, the whole trainer state (``spec<i>.pt``); finished fits go to ``config["fits"]``.
    So a worker group restarted with another size (a node lost: elastic) re-partitions the specs and
    each resumes from the last epoch, whoever fitted it before."""
    import io

    import ray
    import ray.train
    import ray.train.torch

    from dcai import storage

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    specs: list[FitSpec] = ray.get(config["specs"])
    device = config.get("device") or ray.train.torch.get_device()
    n = len(specs)
    done, saved = _read_progress(ray.train.get_checkpoint(), n)
    remaining = [specs[i].epochs - done.get(i, 0) for i in range(n)]
    steps = max(sum(remaining[i] for i in _owned(n, r, world)) for r in range(world))
    mine = [i for i in _owned(n, rank, world) if remaining[i] > 0]
    trainers: dict[int, Trainer] = {}

    def trainer_for(i: int) -> Trainer:
        if i not in trainers:
            trainers[i] = specs[i].part(np.arange(len(specs[i].seeds)), device=device)
            if i in saved:
                trainers[i].load_state_dict(torch.load(io.BytesIO(saved.pop(i)), weights_only=False))
        return trainers[i]

    for _ in range(steps):
        metrics: dict = {"epoch": 0, "specs_done": 0}
        if mine:
            i = mine[0]
            t = trainer_for(i)
            hook = specs[i].on_epoch_start
            if hook is not None:
                hook(i, t.epoch)
            m = t.train_epoch()
            metrics = {"epoch": t.epoch, "spec": i, "loss": float(np.mean(m["loss"]))}
            if t.epoch == specs[i].epochs:
                buf = io.BytesIO()
                torch.save(t.results(), buf)
                storage.write_file(f"{config['fits']}/spec{i}.pt", buf.getvalue())
                mine.pop(0)
                del trainers[i]
        with tempfile.TemporaryDirectory() as d:
            for i in _owned(n, rank, world):
                epoch = (
                    trainers[i].epoch
                    if i in trainers
                    else (specs[i].epochs if i not in mine else done.get(i, 0))
                )
                Path(d, f"spec{i}.json").write_text(json.dumps({"epoch": epoch}))
                if i in trainers:
                    torch.save(trainers[i].state_dict(), Path(d) / f"spec{i}.pt")
                elif i in saved:  # started elsewhere, not yet resumed here: carry its state forward
                    Path(d, f"spec{i}.pt").write_bytes(saved[i])
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))


def fit_many(
    specs: list[FitSpec],
    *,
    max_workers: int = 0,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    max_failures: int = 2,
    storage_path: str | os.PathLike | None = None,
    name: str = "dcai-fit-many",
) -> list[list[FitResult]]:
    """Fit many specs (members × fold groups) with one Ray ``TorchTrainer``: up to ``max_workers`` workers
    (0: one per spec) split them, each worker asking for ``cpus_per_worker`` CPUs and ``gpus_per_worker``
    of a GPU (fractions pack several workers on one GPU) and fitting its specs one after another, each
    spec's K models stacked at once by the engine. Elastic: the group starts with what the cluster has
    (at least one worker) and a lost node's specs resume from their last epoch on the others.
    ``storage_path``: any pyarrow.fs URI every node reaches. Results in the order of ``specs``."""
    import io

    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from dcai import storage
    from dcai.ray_runtime import init_ray

    init_ray()
    if not specs:
        return []
    top = len(specs) if max_workers <= 0 else min(max_workers, len(specs))
    use_gpu = gpus_per_worker > 0
    resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if use_gpu else {})}
    root = _storage(storage_path)
    fits = f"{root}/{name}/fits"
    trainer = TorchTrainer(
        _many_loop,
        train_loop_config={"specs": ray.put(specs), "device": None if use_gpu else "cpu", "fits": fits},
        scaling_config=ray.train.ScalingConfig(
            # elastic (min, max): Train V2's ScalingConfig; mypy sees ray.train's V1 re-export
            num_workers=(1, top),  # type: ignore[arg-type]
            use_gpu=use_gpu,
            resources_per_worker=resources,
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=root,
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    return [
        torch.load(io.BytesIO(storage.path(f"{fits}/spec{i}.pt").read_bytes()), weights_only=False)
        for i in range(len(specs))
    ]


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
    label: str | None = None,
) -> list[list[FitResult]]:
    """One Ray Tune trial per spec, ``gpus_per_trial`` of a GPU each; results in the order of ``specs``."""
    from ray import tune

    from dcai.ray_runtime import init_ray, quiet_tune, trial_progress

    quiet_tune()
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
            callbacks=[
                trial_progress(
                    label or name.split("-")[0], n_trials=len(specs), epochs=max(s.epochs for s in specs)
                )
            ],
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


def _trainer_trial(config: dict, specs: list[FitSpec], options: dict) -> None:
    """One Tune trial of :func:`fan_out_trainers`: its spec on a one-worker ``TorchTrainer``."""
    from ray import tune

    i = config["index"]
    results = train(specs[i], num_workers=1, name=f"{options.pop('name')}-{i:03d}", **options)
    with tempfile.TemporaryDirectory() as d:
        torch.save(results, Path(d) / "rank0-results.pt")
        tune.report({"epoch": specs[i].epochs}, checkpoint=tune.Checkpoint.from_directory(d))


def fan_out_trainers(
    specs: list[FitSpec],
    *,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_failures: int = 2,
    storage_path: str | os.PathLike | None = None,
    name: str = "dcai-tune-trainers",
) -> list[list[FitResult]]:
    """Tune of Trainers: one Tune trial per spec, each launching a one-worker ``TorchTrainer`` (Train V2's
    way to combine them). The trial itself holds no CPU, so at most as many trials run as the cluster's
    CPUs (GPUs) have room for workers; the Trainer checkpoints and resumes each spec. Results in the
    order of ``specs``; :func:`fit_many` is the one-Trainer alternative (BENCHMARKS "vote-ray")."""
    import ray
    from ray import tune

    from dcai.ray_runtime import init_ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    init_ray()
    room = ray.cluster_resources()
    fits = int(room.get("CPU", 1) // cpus_per_trial)
    if gpus_per_trial > 0:
        fits = min(fits, int(room.get("GPU", 0) // gpus_per_trial))
    options = {
        "cpus_per_worker": cpus_per_trial,
        "gpus_per_worker": gpus_per_trial,
        "max_failures": max_failures,
        "storage_path": _storage(storage_path),
        "name": name,
    }
    tuner = tune.Tuner(
        # the trial only waits on its Trainer: no CPU (a worker's CPU on a one-CPU node stays free for the
        # worker); Tune needs a non-empty request, so a kilobyte of memory
        tune.with_resources(
            tune.with_parameters(_trainer_trial, specs=specs, options=options), {"cpu": 0, "memory": 1024}
        ),
        param_space={"index": tune.grid_search(list(range(len(specs))))},
        tune_config=tune.TuneConfig(metric="epoch", mode="max", max_concurrent_trials=max(1, fits)),
        run_config=tune.RunConfig(
            name=name,
            storage_path=_storage(storage_path),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
        ),
    )
    grid = tuner.fit()
    out: list[list[FitResult]] = [[] for _ in specs]
    for k in range(len(grid)):
        result = grid[k]
        if result.error is not None:
            raise result.error
        out[(result.config or {})["index"]] = _results(result.checkpoint, 1)
    return out


def ray_is_up() -> bool:
    """Whether a stage should fit on Ray: ``RAY_ADDRESS`` names a cluster, or this process already joined one."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    import ray

    return ray.is_initialized()


def resolve_engine(engine: str) -> str:
    """``"auto"`` → ``"train"`` when :func:`ray_is_up`, else ``"local"``; the others as given."""
    if engine == "auto":
        return "train" if ray_is_up() else "local"
    return engine


def folds_fit(
    *,
    engine: str,
    folds_per_worker: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    storage: str,
    name: str,
) -> Callable[..., list[FitResult]]:
    """A ``fit`` with :func:`dcai.train.engine.fit`'s signature for stages that cross-fit their own models
    (embed, value): ``engine`` "train" fits the K fold models as specs of ``folds_per_worker`` models on one
    elastic Ray TorchTrainer (:func:`fit_many`, as the vote does); "local" is the engine in this process;
    "auto" is "train" when :func:`ray_is_up`, else "local"."""
    if resolve_engine(engine) == "local":
        from dcai.train import engine as local

        return local.fit

    def fit(model_fn, x, y, *, seeds, train_masks, epochs, **options) -> list[FitResult]:
        import uuid

        gpus = gpus_for(gpus_per_worker, what=f"{name}.gpus_per_worker")
        masks = np.asarray(train_masks, bool)
        groups = [
            list(range(i, min(i + folds_per_worker, len(seeds))))
            for i in range(0, len(seeds), folds_per_worker)
        ]
        specs = [
            FitSpec(model_fn, x, y, seeds=[int(seeds[j]) for j in g], epochs=epochs, options=options, train_masks=masks[g])
            for g in groups
        ]  # fmt: skip
        # a fresh run name: Ray Train resumes a run of the same name, with another fit's models
        fitted = fit_many(
            specs, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus, storage_path=storage,
            name=f"{name}-{uuid.uuid4().hex[:12]}",
        )  # fmt: skip
        return [r for results in fitted for r in results]

    return fit


def run_fold_stage(
    run_dir: str, cfg: Any, stage: str, body: Callable, *, force: bool = False
) -> tuple[dict, bool]:
    """Run a stage that cross-fits its own models (embed, value) on the latest manifest of ``run_dir``:
    ``body(table, cfg, workdir, load=..., fit=...)`` with the run's cached inputs and :func:`folds_fit`
    (``cfg``'s engine and worker options); Ray Train's checkpoints go once the stage is done.
    Returns ``(report, ran)``."""
    from functools import partial

    import pyarrow as pa

    from dcai.runs import Run, StageContext, StageOutput
    from dcai.storage import UriPath, rmtree
    from dcai.train.inputs import load_inputs

    def run_stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        scratch = (ctx.final if isinstance(ctx.final, UriPath) else ctx.workdir) / "ray"
        fit = folds_fit(
            engine=cfg.engine, folds_per_worker=cfg.folds_per_worker, cpus_per_worker=cfg.cpus_per_worker,
            gpus_per_worker=cfg.gpus_per_worker, storage=str(scratch), name=stage,
        )  # fmt: skip
        load = partial(load_inputs, run_dir, size=cfg.image_size, method=cfg.resize)
        out = body(table, cfg, ctx.workdir, load=load, fit=fit)
        out.metrics["engine"] = "ray-train" if resolve_engine(cfg.engine) == "train" else "local"
        rmtree(scratch)  # Ray Train's per-epoch checkpoints: only for resuming a fit
        return out

    _, report, ran = Run(run_dir).execute(stage, run_stage, config=cfg.to_dict(), force=force)
    return report, ran
