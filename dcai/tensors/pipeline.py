"""Ray Data wiring of the tensor dataset: decode the images once into it, predict out of fold over it.

- :func:`build`: the manifest rows' images decoded by Ray Data tasks into the run's tensor dataset
  (:mod:`dcai.tensors.store`), only the content hashes it lacks; returns a :class:`~dcai.tensors.store.Tensors`
  handle that training workers load themselves.
- :func:`predict`: ``map_batches`` of :class:`~dcai.tensors.predict.FoldPredictor` over the dataset, on an
  actor pool (``num_gpus`` per actor where there are GPUs); each actor holds every member's fold models and
  the rows' folds, and the out-of-fold probabilities go straight to Parquet. The driver holds neither the
  images nor the probability table.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np
import pyarrow as pa

from dcai import storage
from dcai.tensors import store
from dcai.tensors.predict import FoldPredictor, Members

CHUNK = 512  # rows per decode task: enough work to pay a task's start, small enough to spread


def build(
    run_dir: str | os.PathLike | storage.UriPath, rows: pa.Table, *, size: int, method: str
) -> store.Tensors:
    """The images of ``rows`` (``uri``, ``content_hash``) in the run's tensor dataset at ``size`` / ``method``,
    decoded now where missing; a handle on them in the order of ``rows``."""
    import ray

    from dcai.ray_runtime import init_ray
    from dcai.train.data import content_hash

    where = store.folder(run_dir, size, method)
    uris = rows.column("uri").to_pylist()
    hashes = [h or content_hash(u) for h, u in zip(rows.column("content_hash").to_pylist(), uris)]
    rows = pa.table({"uri": uris, "content_hash": hashes})
    have = store.known_hashes(where)
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h not in have:
            first.setdefault(h, i)
    if first:
        init_ray()
        todo = rows.select(["uri", "content_hash"]).take(pa.array(sorted(first.values()), pa.int64()))
        blocks = [todo.slice(a, CHUNK) for a in range(0, todo.num_rows, CHUNK)]
        ds = ray.data.from_arrow(blocks).map_batches(
            partial(store.decode_batch, size=size, method=method), batch_format="pyarrow", batch_size=None
        )
        ds.write_parquet(str(where), min_rows_per_file=CHUNK * 8)
    return store.Tensors(where, hashes, size)


class _Predictor(FoldPredictor):
    """The predictor as a Ray Data actor: its models and row index come from the object store."""

    def __init__(self, ref, *, size: int, device: str):
        import ray

        parts = ray.get(ref[0])
        super().__init__(parts["members"], parts["hashes"], parts["folds"], size=size, device=device)


def predict(
    tensors: store.Tensors,
    members: Members,
    folds: np.ndarray,
    out: str | os.PathLike | storage.UriPath,
    *,
    actors: int = 0,
    gpus_per_actor: float = 0.0,
    batch_size: int = 1024,
) -> str:
    """Out-of-fold probabilities of the rows of ``tensors`` (``folds`` ``(N,)``) by every member's fold
    models, written as Parquet (``row``, ``probs`` ``(M * C,)``) to ``out``; returns its path.

    ``actors``: the pool's most actors (0: one per CPU of the cluster, or per GPU share with
    ``gpus_per_actor``)."""
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    return predict_dataset(
        ray.data.read_parquet(tensors.where), members, tensors.keys, folds, out, size=tensors.size,
        actors=actors, gpus_per_actor=gpus_per_actor, batch_size=batch_size,
    )  # fmt: skip


def predict_dataset(
    ds,
    members: Members,
    hashes: np.ndarray,
    folds: np.ndarray,
    out: str | os.PathLike | storage.UriPath,
    *,
    size: int,
    actors: int = 0,
    gpus_per_actor: float = 0.0,
    batch_size: int = 1024,
) -> str:
    """:func:`predict` over any Ray Dataset of ``content_hash`` / ``image`` rows; ``hashes`` ``(N,)`` and
    ``folds`` ``(N,)`` are the rows' (a row's probabilities go to its index in them)."""
    import ray
    from ray.data import ActorPoolStrategy

    room = ray.cluster_resources()
    if actors <= 0:
        actors = (
            max(1, int(room.get("GPU", 0) / gpus_per_actor))
            if gpus_per_actor > 0
            else int(room.get("CPU", 1))
        )
    parts = ray.put({"members": list(members), "hashes": hashes, "folds": np.asarray(folds)})
    probs = ds.map_batches(
        _Predictor,
        fn_constructor_args=([parts],),  # in a list: Ray Data hands a top-level ref over unresolved
        fn_constructor_kwargs={"size": size, "device": "cuda" if gpus_per_actor > 0 else "cpu"},
        # from one actor up: a fixed pool as large as the CPUs would leave none to read the Parquet with
        compute=ActorPoolStrategy(min_size=1, max_size=max(1, actors)),
        batch_format="pyarrow",
        batch_size=batch_size,
        num_cpus=1,
        num_gpus=gpus_per_actor or None,
        udf_modifying_row_count=True,
    )
    target = str(storage.path(out))
    probs.write_parquet(target)
    return target


def gather(out: str, n: int, members: int, classes: int) -> np.ndarray:
    """The Parquet :func:`predict` wrote → ``(M, N, C)`` float64 (what the vote's scoring reads)."""
    from dcai.tensors.predict import gather as from_table

    return from_table(store.dataset(storage.path(out)).to_table(), n, members, classes)
