"""Ray wiring of investigate: each round's K fold models are one Ray Train fit (the engine's ``train``),
around the body in :mod:`dcai.investigate.investigate`.

Writes ``NN-investigate/`` with the manifest (``aux_loss``, ``aux_top_prob``, ``suggested_label``,
``certified``, ``investigate_status``, ``investigate_round``), the review queue, ``probs.npy``
``(N, C)`` out-of-fold probabilities of the investigated rows and the per-round table in the report.
"""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pyarrow as pa

from dcai.investigate.config import InvestigateConfig
from dcai.investigate.investigate import STAGE, investigate
from dcai.runs import Run, StageContext, StageOutput, file_hash
from dcai.storage import UriPath, rmtree
from dcai.train.inputs import load_inputs
from dcai.train.pipeline import gpus_for


def ray_fit(*, gpus: float, storage: str, name: str):
    """A ``fit`` with the engine's signature that runs as one Ray Train ``TorchTrainer`` (GPU if asked)."""
    from dcai.train import pipeline as train_pipeline

    def fit(model_fn, x, y, *, seeds, train_masks, epochs, device="auto", **options):
        spec = train_pipeline.FitSpec(
            model_fn, x, y, seeds=list(seeds), epochs=epochs, options=options, train_masks=train_masks
        )
        # Ray Train picks the worker's device; "auto" on a CPU worker is the CPU. A fresh run name per
        # fit: Ray Train resumes a run of the same name from its last checkpoint, which would hand
        # back the previous round's models (trained on other rows) instead of training new ones.
        return train_pipeline.train(
            spec,
            num_workers=1,
            gpus_per_worker=gpus,
            storage_path=storage,
            name=f"{name}-{uuid.uuid4().hex[:12]}",
            device=None if gpus > 0 else "cpu",
        )

    return fit


def run(
    run_dir: str, cfg: InvestigateConfig, *, truth_csv: str | None = None, force: bool = False
) -> tuple[dict, bool]:
    """Investigate the latest manifest of ``run_dir``; ``truth_csv`` answers the queue (simulated reviewer)."""

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        # Ray Train's checkpoints where every node reaches them: in the stage folder (a shared run folder,
        # or the run's object store)
        scratch = (ctx.final if isinstance(ctx.final, UriPath) else ctx.workdir) / "ray"
        fit = ray_fit(
            gpus=gpus_for(cfg.gpus, what="investigate.gpus"), storage=str(scratch), name="investigate"
        )
        load = partial(load_inputs, run_dir, size=cfg.image_size, method=cfg.resize)
        out = investigate(table, cfg, ctx.workdir, load=load, fit=fit, truth_csv=truth_csv)
        rmtree(scratch)  # per-epoch training checkpoints: only for resuming a fit
        return out

    extra = [str(truth_csv), file_hash(Path(truth_csv))] if truth_csv else None
    _, report, ran = Run(run_dir).execute(STAGE, stage, config=cfg.to_dict(), extra_key=extra, force=force)
    return report, ran
