"""Ray wiring of value: the K fold models (checkpoints kept for TracIn) on one elastic Ray ``TorchTrainer``
(``fit_many``, as the vote fits) when Ray is up, else the local engine (``value.engine``); TracIn runs on
the driver (final-layer gradients only: cheap). Around the body in :mod:`dcai.value.value`.

Writes ``NN-value/``: ``value_*`` columns, ``influence.npz`` and the queue of harmful images.
"""

from __future__ import annotations

from functools import partial

import pyarrow as pa

from dcai.runs import Run, StageContext, StageOutput
from dcai.storage import UriPath, rmtree
from dcai.train.inputs import load_inputs
from dcai.train.pipeline import folds_fit, resolve_engine
from dcai.value.config import ValueConfig
from dcai.value.value import STAGE, value


def run(run_dir: str, cfg: ValueConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Embed the latest manifest of ``run_dir`` into ``NN-value/``. Returns ``(report, ran)``."""

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        scratch = (ctx.final if isinstance(ctx.final, UriPath) else ctx.workdir) / "ray"
        fit = folds_fit(
            engine=cfg.engine, folds_per_worker=cfg.folds_per_worker, cpus_per_worker=cfg.cpus_per_worker,
            gpus_per_worker=cfg.gpus_per_worker, storage=str(scratch), name=STAGE,
        )  # fmt: skip
        load = partial(load_inputs, run_dir, size=cfg.image_size, method=cfg.resize)
        out = value(table, cfg, ctx.workdir, load=load, fit=fit)
        out.metrics["engine"] = "ray-train" if resolve_engine(cfg.engine) == "train" else "local"
        rmtree(scratch)  # Ray Train's per-epoch checkpoints: only for resuming a fit
        return out

    _, report, ran = Run(run_dir).execute(STAGE, stage, config=cfg.to_dict(), force=force)
    return report, ran
