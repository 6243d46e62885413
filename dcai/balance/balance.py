"""Balance: equal classes under a total budget; rows over a class's quota go to ``surplus``, not away.

Works on ``(N,)`` manifest columns. Which rows of a class stay, best first (see :func:`priority`):
trusted rows, then by origin (originals before derived), then rows already in play before surplus
ones, then a seeded hash of the id. So surplus originals come back before derived images are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.balance.config import BalanceConfig

OVER = "balance: over class quota"
BACK = "balance: back from surplus (class under quota)"
COLUMNS = ("id", "label", "split", "origin", "trusted")


def quotas(available: dict[str, int], *, budget: int, mode: str) -> dict[str, int]:
    """Rows each class keeps: at most ``budget // classes``; ``equal`` also cuts all to the smallest class."""
    if not available:
        return {}
    cap = budget // len(available)
    if mode == "equal":
        q = min(cap, min(available.values()))
        return {c: q for c in available}
    return {c: min(cap, n) for c, n in available.items()}


def id_hash(ids: Sequence[str] | np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random ``uint64`` per id, independent of row order and of how rows are grouped."""
    return np.array([int(manifest.row_id(str(seed), i), 16) for i in ids], dtype=np.uint64)


def priority(cols: dict[str, np.ndarray], *, origin_priority: Sequence[str], seed: int) -> np.ndarray:
    """``(N,)`` order in which a class's rows stay (position 0 stays first)."""
    rank = {o: k for k, o in enumerate(origin_priority)}
    trusted = np.asarray([bool(t) for t in cols["trusted"]])
    origin = np.array([rank.get(o, len(rank)) for o in cols["origin"]])
    surplus = np.asarray(cols["split"]) == manifest.SURPLUS
    return np.lexsort((id_hash(cols["id"], seed), surplus, origin, ~trusted))


def keep_class(
    cols: dict[str, np.ndarray], *, quota: int, origin_priority: Sequence[str], seed: int
) -> np.ndarray:
    """``(N,)`` bool for one class's candidate rows (pool and surplus): the ``quota`` rows that stay."""
    keep = np.zeros(len(cols["id"]), dtype=bool)
    keep[priority(cols, origin_priority=origin_priority, seed=seed)[:quota]] = True
    return keep


def keep_batch(
    batch: pa.Table, *, quotas: dict[str, int], origin_priority: Sequence[str], seed: int
) -> pa.Table:
    """Per-class body (a Ray task in the pipeline): ``(id, keep)`` for one class's rows."""
    cols = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in COLUMNS}
    label = cols["label"][0]
    keep = keep_class(cols, quota=quotas[label], origin_priority=origin_priority, seed=seed)
    return pa.table({"id": batch.column("id"), "keep": pa.array(keep)})


def candidates(table: pa.Table, cfg: BalanceConfig) -> np.ndarray:
    """Rows balance may move: labelled rows in the pool splits and in surplus."""
    labelled = table.column("label").is_valid().to_numpy(zero_copy_only=False)
    return np.isin(manifest.column(table, "split"), (*cfg.pool_splits, manifest.SURPLUS)) & labelled


def balance(
    table: pa.Table,
    cfg: BalanceConfig,
    *,
    keep_fn: Callable[[pa.Table, dict[str, int]], dict[str, bool]] | None = None,
) -> tuple[pa.Table, dict]:
    """The balanced manifest and metrics. ``keep_fn(candidates, quotas) -> {id: keep}`` runs the per-class
    selection (the pipeline runs it as Ray tasks); by default it runs here, class by class."""
    mask = candidates(table, cfg)
    cand = table.filter(pa.array(mask)).select(list(COLUMNS))
    labels = manifest.column(cand, "label")
    available = (
        {str(c): int(n) for c, n in zip(*np.unique(labels.astype(str), return_counts=True))}
        if len(labels)
        else {}
    )
    q = quotas(available, budget=cfg.budget, mode=cfg.mode)
    if keep_fn is None:
        keep_fn = lambda c, qs: local_keep(c, qs, cfg)  # noqa: E731
    keep_by_id = keep_fn(cand, q) if cand.num_rows else {}
    ids = manifest.column(table, "id")
    split = manifest.column(table, "split")
    keep = np.array([keep_by_id.get(i, False) for i in ids]) & mask
    pool = np.isin(split, cfg.pool_splits)
    to_surplus = pool & ~keep
    back = (split == manifest.SURPLUS) & keep
    out = manifest.set_split(table, to_surplus, manifest.SURPLUS, reason=OVER) if to_surplus.any() else table
    out = manifest.set_split(out, back, manifest.TRAIN, reason=BACK) if back.any() else out
    after = manifest.column(out, "split")
    in_pool = np.isin(after, cfg.pool_splits)
    per_class = {c: int(((manifest.column(out, "label") == c) & in_pool).sum()) for c in available}
    metrics = {
        "budget": cfg.budget,
        "mode": cfg.mode,
        "quota": q,
        "available": available,
        "kept_per_class": per_class,
        "kept_total": int(in_pool.sum()),
        "to_surplus": int(to_surplus.sum()),
        "back_from_surplus": int(back.sum()),
    }
    return out, metrics


def local_keep(cand: pa.Table, q: dict[str, int], cfg: BalanceConfig) -> dict[str, bool]:
    """The per-class selection without Ray: one :func:`keep_batch` per class."""
    labels = manifest.column(cand, "label")
    out: dict[str, bool] = {}
    for c in q:
        part = keep_batch(
            cand.filter(pa.array(labels == c)), quotas=q, origin_priority=cfg.origin_priority, seed=cfg.seed
        )
        out.update(zip(part.column("id").to_pylist(), part.column("keep").to_pylist()))
    return out
