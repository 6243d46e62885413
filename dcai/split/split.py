"""Split: random test selection, then stratified, group-aware N-fold over ``(N,)`` manifest columns.

A family is every row linked through ``parent`` (an image and all it was derived from or into) or
through a shared duplicate group; a family never straddles test, train and val.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.split.config import SplitConfig

TEST_FOLD = -1  # fold of test rows and of families with no row in the pool


def families(
    ids: Sequence[str] | np.ndarray,
    parents: Sequence[str | None] | np.ndarray,
    groups: Sequence | None = None,
) -> np.ndarray:
    """``(N,)`` int family of each row: connected components of the parent links and shared groups."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(ids)
    index = {i: k for k, i in enumerate(ids)}
    links = [(k, index[p]) for k, p in enumerate(parents) if p is not None and p in index]
    src, dst = [a for a, _ in links], [b for _, b in links]
    if groups is not None:
        rows = [k for k, g in enumerate(groups) if g is not None]
        if rows:
            _, first, inverse = np.unique(
                np.asarray([str(groups[k]) for k in rows]), return_index=True, return_inverse=True
            )
            src += rows
            dst += [rows[j] for j in first[inverse]]
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def dominant(family: np.ndarray, labels: np.ndarray) -> dict[int, str]:
    """The most common label of each family (ties: the smallest label)."""
    pairs, counts = np.unique(np.stack([family.astype(str), labels.astype(str)]), axis=1, return_counts=True)
    order = np.lexsort((pairs[1], -counts, pairs[0].astype(np.int64)))
    fam = pairs[0].astype(np.int64)[order]
    first = np.r_[True, fam[1:] != fam[:-1]]
    return dict(zip(fam[first].tolist(), pairs[1][order][first].tolist()))


def assign_class(
    sizes: np.ndarray, *, n_folds: int, test_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Folds for one class's families of the given sizes (``-1`` = test).

    Families are shuffled and laid end to end; each takes the fold under its midpoint, so every fold
    gets ``total / n_folds`` rows give or take one family. A random offset per class keeps the
    rounding from always favouring fold 0.
    """
    order = rng.permutation(len(sizes))
    s = np.asarray(sizes, dtype=np.float64)[order]
    test = ((np.cumsum(s) - s / 2) / max(s.sum(), 1)) < test_fraction
    rest = s[~test]
    mid = (np.cumsum(rest) - rest / 2) / max(rest.sum(), 1)
    folds = np.full(len(s), TEST_FOLD, dtype=np.int64)
    folds[~test] = (
        np.minimum((mid * n_folds).astype(np.int64), n_folds - 1) + rng.integers(n_folds)
    ) % n_folds
    out = np.empty_like(folds)
    out[order] = folds
    return out


def class_rng(seed: int, label: str) -> np.random.Generator:
    """A generator per class, so the result does not depend on how classes are grouped into tasks."""
    return np.random.default_rng(int(manifest.row_id(str(seed), "split", label)[:8], 16))


def assign_batch(batch: pa.Table, *, n_folds: int, test_fraction: float, seed: int) -> pa.Table:
    """Per-class body (a Ray task in the pipeline): ``(family, size, label)`` in, ``(family, fold)`` out."""
    label = batch.column("label")[0].as_py()
    order = np.argsort(batch.column("family").to_numpy())  # rows may arrive in any order
    fams = batch.column("family").to_numpy()[order]
    sizes = batch.column("size").to_numpy()[order]
    folds = assign_class(sizes, n_folds=n_folds, test_fraction=test_fraction, rng=class_rng(seed, label))
    return pa.table({"family": fams, "fold": folds})


def split(
    table: pa.Table,
    cfg: SplitConfig,
    *,
    assign_fn: Callable[[pa.Table], dict[int, int]] | None = None,
) -> tuple[pa.Table, dict]:
    """The re-split manifest (with a ``fold`` column) and metrics. ``assign_fn(families table) ->
    {family: fold}`` runs the per-class assignment (the pipeline runs it as Ray tasks)."""
    ids = manifest.column(table, "id")
    splits = manifest.column(table, "split")
    labels = manifest.column(table, "label")
    # to_pylist keeps nulls as None (a numpy int column would turn them into NaN, one shared "group")
    groups = table.column(cfg.group_column).to_pylist() if cfg.group_column in table.column_names else None
    fam = families(ids, manifest.column(table, "parent"), groups)
    pool = np.isin(splits, cfg.pool_splits)
    # A family with a row already in test goes to test whole: its train rows would leak into the score.
    leaking = pool & np.isin(fam, fam[splits == manifest.TEST])
    play = pool & ~leaking
    fam_ids, sizes = np.unique(fam[play], return_counts=True)
    dom = dominant(fam[play], labels[play]) if play.any() else {}
    summary = pa.table({"family": fam_ids, "size": sizes, "label": [dom[f] for f in fam_ids.tolist()]})
    if assign_fn is None:
        assign_fn = lambda t: local_assign(t, cfg)  # noqa: E731
    fold_of = assign_fn(summary) if summary.num_rows else {}
    fold = np.array([fold_of.get(f, TEST_FOLD) for f in fam.tolist()], dtype=np.int64)
    new = splits.copy()
    new[play & (fold == TEST_FOLD)] = manifest.TEST
    new[leaking] = manifest.TEST
    new[play & (fold == cfg.val_fold)] = manifest.VAL
    new[play & (fold != TEST_FOLD) & (fold != cfg.val_fold)] = manifest.TRAIN
    out = table
    reasons = {
        manifest.TEST: f"split: random test selection ({cfg.test_fraction:g} of families)",
        manifest.VAL: f"split: fold {cfg.val_fold} of {cfg.n_folds} is val",
        manifest.TRAIN: f"split: train folds (fold {cfg.val_fold} of {cfg.n_folds} is val)",
    }
    for s, reason in reasons.items():
        changed = (new == s) & (splits != s) & ~leaking
        if changed.any():
            out = manifest.set_split(out, changed, s, reason=reason)
    if (leaking & (splits != manifest.TEST)).any():
        out = manifest.set_split(
            out,
            leaking & (splits != manifest.TEST),
            manifest.TEST,
            reason="split: same family or duplicate group as a test image",
        )
    out = manifest.with_column(out, "fold", pa.array(fold, pa.int64()))
    per_fold: dict[int, dict[str, int]] = {}
    for f, c in zip(fold[play].tolist(), labels[play].tolist()):
        per_fold.setdefault(f, {}).setdefault(c, 0)
        per_fold[f][c] += 1
    metrics = {
        "n_folds": cfg.n_folds,
        "val_fold": cfg.val_fold,
        "test_fraction": cfg.test_fraction,
        "families": int(len(fam_ids)),
        "largest_family": int(sizes.max()) if len(sizes) else 0,
        "grouped_by": cfg.group_column if groups is not None else None,
        "pulled_to_test": int((leaking & (splits != manifest.TEST)).sum()),
        "per_fold": {str(k): v for k, v in sorted(per_fold.items())},
        "moved": {s: int(((new == s) & (splits != s)).sum()) for s in reasons},
    }
    return out, metrics


def local_assign(summary: pa.Table, cfg: SplitConfig) -> dict[int, int]:
    """The per-class fold assignment without Ray: one :func:`assign_batch` per class."""
    labels = summary.column("label").to_numpy(zero_copy_only=False)
    out: dict[int, int] = {}
    for c in np.unique(labels):
        part = assign_batch(
            summary.filter(pa.array(labels == c)),
            n_folds=cfg.n_folds,
            test_fraction=cfg.test_fraction,
            seed=cfg.seed,
        )
        out.update(zip(part.column("family").to_pylist(), part.column("fold").to_pylist()))
    return out
