"""Ray wiring of split: the per-class fold assignment runs as one Ray task per class.

Reads the run's latest manifest and writes ``NN-split/`` (adds ``fold``; no new rows).
"""

from __future__ import annotations

import pyarrow as pa

from dcai.ray_runtime import by_class
from dcai.runs import Run, StageContext, StageOutput
from dcai.split import split as split_mod
from dcai.split.config import SplitConfig


def ray_assign(summary: pa.Table, cfg: SplitConfig) -> dict[int, int]:
    out = by_class(
        summary, split_mod.assign_batch, n_folds=cfg.n_folds, test_fraction=cfg.test_fraction, seed=cfg.seed
    )
    return dict(zip(out.column("family").to_pylist(), out.column("fold").to_pylist()))


def run(run_dir: str, cfg: SplitConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Split the run's latest manifest into ``NN-split/`` (adds ``fold``). Returns ``(report, ran)``."""

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        out, metrics = split_mod.split(table, cfg, assign_fn=lambda s: ray_assign(s, cfg))
        return StageOutput(out, metrics)

    _, report, ran = Run(run_dir).execute("split", stage, config=cfg.to_dict(), force=force)
    return report, ran
