"""Out-of-fold kNN over per-fold embeddings: neighbour label distribution, suggested label, isolation.

Input: ``emb`` ``(K, N, D)``, every row embedded by each of the K fold models; ``folds`` ``(N,)`` (the
fold whose model did not train on the row, -1 for rows no model trained on); labels ``(N,)``. A row of
fold f is looked up in model f's space only, so the embedding that places it never saw its label; its
neighbours are the ``reference`` rows other than itself, so its own label is never read. Rows outside
every fold (a held-out split) are looked up in each model's space and the K answers averaged.

Exact search (a matrix product in chunks) up to ``exact_max`` references; above it, pynndescent's
NN-descent graph (already installed with umap-learn, the review map's projection), an approximate
index that builds in O(N log N) and keeps a million 64-d vectors in a few GB. For far larger runs a
FAISS IVF-PQ index would be the next step (not a dependency today).
"""

from __future__ import annotations

import numpy as np

EXACT_MAX = 50_000  # references up to which the search is exact


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def search(
    queries: np.ndarray, refs: np.ndarray, k: int, *, exclude: np.ndarray, exact_max: int = EXACT_MAX
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar ``refs`` ``(R, D)`` of each of ``queries`` ``(Q, D)``, never the
    reference ``exclude[q]`` (the query itself; -1 for none). Returns ``(indices (Q, k), similarities (Q, k))``."""
    q, r = _normalise(queries), _normalise(refs)
    k = min(k, len(r) - 1 if (exclude >= 0).any() else len(r))
    if len(r) > exact_max:
        import pynndescent

        index = pynndescent.NNDescent(r, metric="cosine", n_neighbors=max(2 * k, 15), random_state=0)
        idx, dist = index.query(q, k=k + 1)
        sim = 1.0 - dist
    else:
        idx = np.empty((len(q), k + 1), np.int64)
        sim = np.empty((len(q), k + 1), np.float32)
        for s in range(0, len(q), 512):
            block = q[s : s + 512] @ r.T  # (b, R)
            kk = min(k + 1, block.shape[1])
            part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
            ps = np.take_along_axis(block, part, 1)
            order = np.argsort(-ps, axis=1, kind="stable")
            idx[s : s + 512, :kk] = np.take_along_axis(part, order, 1)
            sim[s : s + 512, :kk] = np.take_along_axis(ps, order, 1)
            if kk < k + 1:
                idx[s : s + 512, kk:], sim[s : s + 512, kk:] = -1, -np.inf
    keep = idx != exclude[:, None]
    # drop the query itself where found, else the farthest of the k + 1
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, order, 1), np.take_along_axis(sim, order, 1)


def neighbours(
    emb: np.ndarray,
    folds: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    k: int = 10,
    reference: np.ndarray | None = None,
    exact_max: int = EXACT_MAX,
) -> dict[str, np.ndarray]:
    """Per row: ``dist`` ``(N, C)`` neighbour label shares, ``top`` / ``top_share`` / ``given_share``
    ``(N,)``, ``isolation`` ``(N,)`` in [0, 1] (the row's mean cosine distance to its neighbours as a
    percentile among the rows looked up in the same space: 1 = the most isolated), ``index`` ``(N, k)``
    neighbour rows and ``similarity`` ``(N, k)`` (of the row's own fold space; for rows outside every
    fold, of model 0's). ``reference`` ``(N,)`` bool: the rows that may be neighbours (default all)."""
    emb = np.asarray(emb, np.float32)
    folds, labels = np.asarray(folds), np.asarray(labels, np.int64)
    kk, n, _ = emb.shape
    ref = np.ones(n, bool) if reference is None else np.asarray(reference, bool)
    ref_rows = np.flatnonzero(ref)
    at = np.full(n, -1, np.int64)
    at[ref_rows] = np.arange(len(ref_rows))
    k = min(k, max(len(ref_rows) - 1, 1))
    dist = np.zeros((n, num_classes))
    isolation = np.zeros(n)
    index = np.full((n, k), -1, np.int64)
    similarity = np.full((n, k), np.nan, np.float32)
    outside = np.flatnonzero(folds < 0)
    for f in range(kk):
        rows = np.flatnonzero(folds == f)
        for group, weight in ((rows, 1.0), (outside, 1.0 / kk)):
            if not len(group):
                continue
            idx, sim = search(emb[f, group], emb[f, ref_rows], k, exclude=at[group], exact_max=exact_max)
            nb = ref_rows[idx]
            onehot = np.zeros((len(group), num_classes))
            np.add.at(onehot, (np.repeat(np.arange(len(group)), idx.shape[1]), labels[nb].ravel()), 1.0)
            dist[group] += weight * onehot / idx.shape[1]
            far = 1.0 - sim.mean(1)
            isolation[group] += weight * (np.argsort(np.argsort(far, kind="stable")) / max(len(group) - 1, 1))
            if group is rows or f == 0:
                index[group], similarity[group] = nb, sim
    top = dist.argmax(1)
    at_n = np.arange(n)
    return {
        "dist": dist,
        "top": top,
        "top_share": dist[at_n, top],
        "given_share": dist[at_n, labels],
        "isolation": isolation,
        "index": index,
        "similarity": similarity,
    }


ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def calibrate(dist: np.ndarray, labels: np.ndarray, k: int, rows: np.ndarray) -> tuple[float, np.ndarray]:
    """Neighbour shares ``(N, C)`` as probabilities: ``(share · k + α / C) / (k + α)``, the α of
    :data:`ALPHAS` that best predicts the given labels of ``rows`` (log loss; out of fold, since no row is
    its own neighbour). A kNN that often disagrees with the given labels gets a large α, so its
    probabilities stay near 1 / C and move clean's decisions little. Returns ``(α, (N, C) probabilities)``."""
    c = dist.shape[1]
    counts = dist * k
    at = np.flatnonzero(rows)
    y = np.asarray(labels)[at]

    def loss(alpha: float) -> float:
        return float(-np.log((counts[at, y] + alpha / c) / (k + alpha)).mean()) if len(at) else 0.0

    best = min(ALPHAS, key=loss)
    return best, (counts + best / c) / (k + best)
