"""Ray wiring of balance: the per-class selection runs as one Ray task per class.

Reads the run's latest manifest and writes ``NN-balance/`` (no new rows).
"""

from __future__ import annotations

import pyarrow as pa

from dcai.balance import balance as balance_mod
from dcai.balance.config import BalanceConfig
from dcai.ray_runtime import by_class
from dcai.runs import Run, StageContext, StageOutput


def ray_keep(cand: pa.Table, quotas: dict[str, int], cfg: BalanceConfig) -> dict[str, bool]:
    out = by_class(
        cand, balance_mod.keep_batch, quotas=quotas, origin_priority=cfg.origin_priority, seed=cfg.seed
    )
    return dict(zip(out.column("id").to_pylist(), out.column("keep").to_pylist()))


def run(run_dir: str, cfg: BalanceConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Balance the run's latest manifest into ``NN-balance/``. Returns ``(report, ran)``."""

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        out, metrics = balance_mod.balance(table, cfg, keep_fn=lambda c, q: ray_keep(c, q, cfg))
        return StageOutput(out, metrics)

    _, report, ran = Run(run_dir).execute("balance", stage, config=cfg.to_dict(), force=force)
    return report, ran
