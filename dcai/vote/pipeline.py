"""Ray wiring of vote: members × fold groups fitted on one elastic Ray ``TorchTrainer`` (``fit_many``;
``engine: tune`` makes them Ray Tune trials instead), around the body in :mod:`dcai.vote.vote`.

A trial trains the folds of its group at once (stacked on one device by the engine). Each image's
out-of-fold probabilities come from its own fold's model: predicted in the driver (``inputs: driver``) or
by a Ray Data actor pool over the run's tensor dataset (``inputs: ray_data``, :mod:`dcai.tensors`, written
to ``oof/`` in the stage). Writes ``NN-vote/``: manifest columns ``vote_*``, ``probs.npz`` ``(M, N, C)``,
and a queue of flagged images.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from dcai.models.vote import model_fn as member_fn
from dcai.runs import Run, StageContext, StageOutput
from dcai.storage import UriPath, rmtree
from dcai.train import crossfit
from dcai.train.inputs import load_inputs
from dcai.train.oof import fit_info, make_augment
from dcai.train.pipeline import gpus_for
from dcai.vote.config import VoteConfig
from dcai.vote.vote import trials, vote

STAGE = "vote"


def fan_out(
    x, y: np.ndarray, cf: crossfit.CrossFit, cfg: VoteConfig, *, num_classes: int, storage: str, oof: str
):
    """Fit every trial on Ray, predict each row with its own fold's model: ``((M, N, C) probs, trial info)``.

    ``x``: ``(N, H, W, C)`` images, or a :class:`dcai.tensors.store.Tensors` handle (``inputs: ray_data``),
    predicted by a Ray Data actor pool into ``oof/<fit>`` Parquet."""
    from dcai.ray_runtime import quiet_tune
    from dcai.train import engine
    from dcai.train import pipeline as train_pipeline

    quiet_tune()
    plan = trials(cfg)
    options = {
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "augment": make_augment(cfg.augment),
        "keep_best": False,
    }
    specs = []
    for t in plan:
        m = cfg.members.index(t["member"])
        seeds = [cfg.seed * 10_000 + m * 100 + f for f in t["folds"]]
        specs.append(
            train_pipeline.FitSpec(
                member_fn(t["member"], num_classes, width=cfg.member_width(t["member"])), x, y, seeds=seeds, epochs=cfg.epochs,
                options={**options, "device": cfg.device}, train_masks=cf.masks[t["folds"]],
            )
        )  # fmt: skip
    started = time.time()
    gpus = gpus_for(cfg.gpus_per_trial, what="vote.gpus_per_trial")
    name = f"vote-{uuid.uuid4().hex[:12]}"  # a fresh run: never resume another vote's
    if cfg.engine == "train":
        fitted = train_pipeline.fit_many(
            specs, max_workers=cfg.workers, cpus_per_worker=cfg.cpus_per_trial, gpus_per_worker=gpus,
            max_failures=cfg.max_failures, storage_path=storage, name=name,
        )  # fmt: skip
    elif cfg.engine == "tune-train":
        fitted = train_pipeline.fan_out_trainers(
            specs, cpus_per_trial=cfg.cpus_per_trial, gpus_per_trial=gpus, max_failures=cfg.max_failures,
            storage_path=storage, name=name,
        )  # fmt: skip
    else:
        fitted = train_pipeline.fan_out(
            specs, cpus_per_trial=cfg.cpus_per_trial, gpus_per_trial=gpus, max_failures=cfg.max_failures,
            storage_path=storage, name=name,
        )  # fmt: skip
    seconds = time.time() - started
    info = [{**t, **fit_info(results, seconds, cfg.epochs)} for t, results in zip(plan, fitted)]
    # every member's K fold models, fold k's from the trial that fitted it
    states: list[list] = [[None] * cf.k for _ in cfg.members]
    fns: list = [None] * len(cfg.members)
    for t, spec, results in zip(plan, specs, fitted):
        m = cfg.members.index(t["member"])
        fns[m] = spec.model_fn
        for f, r in zip(t["folds"], results):
            states[m][f] = r.state_dict
    if isinstance(x, np.ndarray):
        return np.stack(
            [
                crossfit.out_of_fold(engine.predict(fn, st, x, device=cfg.device), cf)
                for fn, st in zip(fns, states)
            ]
        ), info
    from dcai.tensors import pipeline as tensors

    out = tensors.predict(
        x, list(zip(fns, states)), cf.folds, f"{oof}/{name}", actors=cfg.predict_actors,
        gpus_per_actor=gpus, batch_size=max(256, cfg.batch_size * 16),
    )  # fmt: skip
    return tensors.gather(out, len(y), len(cfg.members), num_classes), info


def run(run_dir: str, cfg: VoteConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Vote on the latest manifest of ``run_dir`` into ``NN-vote/``. Returns ``(report, ran)``."""
    the_run = Run(run_dir)
    previous = the_run.stage_dir(STAGE)

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        load: Callable[[pa.Table], Any]
        if cfg.inputs == "ray_data":
            from dcai.tensors import pipeline as tensors

            load = partial(tensors.build, run_dir, size=cfg.image_size, method=cfg.resize)
        else:
            load = partial(load_inputs, run_dir, size=cfg.image_size, method=cfg.resize)
        # Ray's checkpoints and the predictions go where every node reaches: the stage's folder (inside a
        # shared run folder, or the run's object store), unless storage_path says otherwise
        shared = ctx.final if isinstance(ctx.final, UriPath) else ctx.workdir
        scratch = shared / "ray"
        storage = cfg.storage_path or str(scratch)
        fit = partial(fan_out, cfg=cfg, storage=storage, oof=str(shared / "oof"))
        out = vote(table, cfg, ctx.workdir, load=load, fan_out=fit, previous=previous)
        if not cfg.storage_path:
            rmtree(scratch)  # only for resuming a fit; the predictions are kept in probs.npz
        return out

    _, report, ran = the_run.execute(STAGE, stage, config=cfg.to_dict(), force=force)
    return report, ran
