"""Ray wiring of vote: members × fold groups fitted on one elastic Ray ``TorchTrainer`` (``fit_many``;
``engine: tune`` makes them Ray Tune trials instead), around the body in :mod:`dcai.vote.vote`.

A trial trains the folds of its group at once (stacked on one device by the engine). The driver
predicts every image with each member's fold models, keeps each image's out-of-fold row, and writes
``NN-vote/``: manifest columns ``vote_*``, ``probs.npz`` ``(M, N, C)``, and a queue of flagged images.
"""

from __future__ import annotations

import time
import uuid
from functools import partial

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
    x: np.ndarray, y: np.ndarray, cf: crossfit.CrossFit, cfg: VoteConfig, *, num_classes: int, storage: str
):
    """Fit every trial with Ray Tune, predict with each fold model: ``((M, K, N, C) probs, per-trial info)``."""
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
    out = np.full((len(cfg.members), cf.k, len(y), num_classes), np.nan, np.float32)
    info = []
    for t, spec, results in zip(plan, specs, fitted):
        states = [r.state_dict for r in results]
        out[cfg.members.index(t["member"]), t["folds"]] = engine.predict(
            spec.model_fn, states, x, device=cfg.device
        )
        info.append({**t, **fit_info(results, seconds, cfg.epochs)})
    return out, info


def run(run_dir: str, cfg: VoteConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Vote on the latest manifest of ``run_dir`` into ``NN-vote/``. Returns ``(report, ran)``."""
    the_run = Run(run_dir)
    previous = the_run.stage_dir(STAGE)

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        load = partial(load_inputs, run_dir, size=cfg.image_size, method=cfg.resize)
        # Ray's checkpoints go where every node reaches: the stage's folder (inside a shared run folder, or
        # the run's object store), unless storage_path says otherwise
        scratch = (ctx.final if isinstance(ctx.final, UriPath) else ctx.workdir) / "ray"
        storage = cfg.storage_path or str(scratch)
        fit = partial(fan_out, cfg=cfg, storage=storage)
        out = vote(table, cfg, ctx.workdir, load=load, fan_out=fit, previous=previous)
        if not cfg.storage_path:
            rmtree(scratch)  # only for resuming a fit; the predictions are kept in probs.npz
        return out

    _, report, ran = the_run.execute(STAGE, stage, config=cfg.to_dict(), force=force)
    return report, ran
