"""Ray wiring of balance and split: the per-class work runs as one Ray task per class.

Each stage reads the run's latest manifest and writes ``NN-balance/`` or ``NN-split/`` (no new rows).
"""

from __future__ import annotations

import pyarrow as pa

from dcai.runs import Run, StageContext, StageOutput
from dcai.shape import balance as balance_mod
from dcai.shape import split as split_mod
from dcai.shape.config import BalanceConfig, SplitConfig


def _by_class(table: pa.Table, fn, **kwargs) -> pa.Table:
    """``fn`` once per class (value of ``label``) as parallel Ray tasks; outputs concatenated.

    One task per class rather than a Ray Data group-by: the classes are few and known up front, and a
    hash shuffle costs seconds of set-up for what is a sort per class.
    """
    import pyarrow.compute as pc
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    task = ray.remote(fn)
    refs = [
        task.remote(table.filter(pc.equal(table.column("label"), c)), **kwargs)
        for c in pc.unique(table.column("label")).to_pylist()
    ]
    return pa.concat_tables(ray.get(refs))


def ray_keep(cand: pa.Table, quotas: dict[str, int], cfg: BalanceConfig) -> dict[str, bool]:
    out = _by_class(
        cand, balance_mod.keep_batch, quotas=quotas, origin_priority=cfg.origin_priority, seed=cfg.seed
    )
    return dict(zip(out.column("id").to_pylist(), out.column("keep").to_pylist()))


def ray_assign(summary: pa.Table, cfg: SplitConfig) -> dict[int, int]:
    out = _by_class(
        summary, split_mod.assign_batch, n_folds=cfg.n_folds, test_fraction=cfg.test_fraction, seed=cfg.seed
    )
    return dict(zip(out.column("family").to_pylist(), out.column("fold").to_pylist()))


def run_balance(run_dir: str, cfg: BalanceConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Balance the run's latest manifest into ``NN-balance/``. Returns ``(report, ran)``."""

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        out, metrics = balance_mod.balance(table, cfg, keep_fn=lambda c, q: ray_keep(c, q, cfg))
        return StageOutput(out, metrics)

    _, report, ran = Run(run_dir).execute("balance", stage, config=cfg.to_dict(), force=force)
    return report, ran


def run_split(run_dir: str, cfg: SplitConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Split the run's latest manifest into ``NN-split/`` (adds ``fold``). Returns ``(report, ran)``."""

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        out, metrics = split_mod.split(table, cfg, assign_fn=lambda s: ray_assign(s, cfg))
        return StageOutput(out, metrics)

    _, report, ran = Run(run_dir).execute("split", stage, config=cfg.to_dict(), force=force)
    return report, ran


def balance_stage(ctx, section: dict) -> dict:
    """``dcai pipeline`` runner: the ``balance:`` section of the pipeline config."""
    from dcai.pipeline import stage_config

    return run_balance(ctx.run_dir, stage_config(BalanceConfig, ctx, section), force=ctx.force)[0]


def split_stage(ctx, section: dict) -> dict:
    """``dcai pipeline`` runner: the ``split:`` section of the pipeline config."""
    from dcai.pipeline import stage_config

    return run_split(ctx.run_dir, stage_config(SplitConfig, ctx, section), force=ctx.force)[0]
