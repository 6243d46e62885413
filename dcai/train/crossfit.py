"""K-fold cross-fitting: every image is scored by a model that never trained on it.

:func:`plan` assigns ``(N,)`` rows to folds (stratified by label, whole duplicate groups together) and
gives ``(K, N)`` train masks; :func:`out_of_fold` picks each row's ``(C,)`` probabilities from
``(K, N, C)`` predictions: its own fold's model, or the mean of all K for rows no model trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNTRAINED = -1  # fold of a row that no model trains on (scored by the mean of all K models)


@dataclass(frozen=True)
class CrossFit:
    folds: np.ndarray  # (N,) int: the fold whose model does NOT train on the row; UNTRAINED for none
    masks: np.ndarray  # (K, N) bool: masks[k, i] = model k trains on row i

    @property
    def k(self) -> int:
        return self.masks.shape[0]

    def check(self) -> None:
        """Raise if any row would be scored by a model that trained on it."""
        n = self.masks.shape[1]
        own = self.folds >= 0
        if own.any() and self.masks[self.folds[own], np.flatnonzero(own)].any():
            raise AssertionError("a row is scored by the model of its fold, which trained on it")
        if self.masks[:, ~own].any():
            raise AssertionError("a row outside every fold was trained on, yet it is scored by all models")
        if self.masks.shape != (self.k, n) or not self.masks.any(axis=1).all():
            raise AssertionError("every model needs training rows")


def plan(
    n: int,
    k: int,
    *,
    seed: int = 0,
    labels: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    trainable: np.ndarray | None = None,
) -> CrossFit:
    """Folds for ``n`` rows. Only ``trainable`` ``(N,)`` rows are trained on and get a fold.

    ``labels`` ``(N,)`` stratifies the folds (each class spread evenly); ``groups`` ``(N,)`` (e.g.
    ``dup_group``, null for none) keeps a group in one fold, so a near-duplicate of a scored image is
    never in its model's training set. With ``k == 1`` there is one model trained on every
    trainable row, and only the untrainable rows can be scored out of sample.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    trainable = np.ones(n, bool) if trainable is None else np.asarray(trainable, bool)
    rng = np.random.default_rng(seed)
    folds = np.full(n, UNTRAINED, dtype=np.int64)
    if k == 1:
        masks = trainable[None, :].copy()
        return CrossFit(folds, masks)
    # A unit is a duplicate group (or a single row); units are dealt to folds class by class.
    keys = np.arange(n).astype(object)
    if groups is not None:
        g = np.asarray(groups, dtype=object)
        has = np.array([v is not None and v == v and v != "" for v in g], dtype=bool)
        keys[has] = np.array([f"g:{v}" for v in g[has]], dtype=object)
    idx = np.flatnonzero(trainable)
    units: dict[object, list[int]] = {}
    for i in idx:
        units.setdefault(keys[i], []).append(int(i))
    strata: dict[object, list[list[int]]] = {}
    for rows in units.values():
        strata.setdefault(labels[rows[0]] if labels is not None else 0, []).append(rows)
    load = np.zeros(k, dtype=np.int64)
    for stratum in sorted(strata, key=str):
        units_s = [strata[stratum][j] for j in rng.permutation(len(strata[stratum]))]
        units_s.sort(key=len, reverse=True)  # big groups first, so singletons even out the folds after
        class_load = np.zeros(k, dtype=np.int64)
        for rows in units_s:
            # The fold with the fewest rows of this class, then the fewest overall, then at random.
            f = int(np.lexsort((rng.random(k), load, class_load))[0])
            folds[rows] = f
            class_load[f] += len(rows)
            load[f] += len(rows)
    masks = (folds[None, :] != np.arange(k)[:, None]) & trainable[None, :]
    return CrossFit(folds, masks)


def out_of_fold(probs: np.ndarray, cf: CrossFit) -> np.ndarray:
    """``(K, N, C)`` predictions of the K models → ``(N, C)``, each row from models that did not train on it."""
    probs = np.asarray(probs)
    if probs.shape[:2] != cf.masks.shape:
        raise ValueError(f"predictions {probs.shape[:2]} do not match the plan's (K, N) = {cf.masks.shape}")
    own = cf.folds >= 0
    out = np.empty(probs.shape[1:], dtype=np.float64)
    out[own] = probs[cf.folds[own], np.flatnonzero(own)]
    rest = ~own
    if rest.any():
        # Mean over the models that did not see the row: with k == 1 a trainable row has none.
        unseen = ~cf.masks[:, rest]  # (K, n_rest)
        w = unseen / np.maximum(unseen.sum(0, keepdims=True), 1)
        out[rest] = np.einsum("kn,knc->nc", w, probs[:, rest])
        out[np.flatnonzero(rest)[~unseen.any(0)]] = np.nan
    return out
