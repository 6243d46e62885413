"""The dedup stage's steps in order, without Ray: the manifest in, dedup columns and removals out.

sketch every active image → exact groups (file bytes, decoded pixels) → band rows grouped by key →
candidate pairs → verified (geometric gate, mask overlap) → pixel check → union-find → one kept per
group (``policy``). The four steps that fan out over a cluster are an :class:`Engine`'s;
``pipeline.RayEngine`` runs them on Ray. The per-partition work they map is here too.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dcai import manifest
from dcai.dedup import exact, groups, join, lsh, policy, sketch, stored, verify
from dcai.dedup.config import DedupConfig
from dcai.runs import StageOutput

# (a, b, score or None, pairs checked, partitions): candidate pairs of the band group-by
Candidates = tuple[np.ndarray, np.ndarray, "np.ndarray | None", int, int]


class Engine(Protocol):
    """Where the steps that fan out run. ``sources``: sketch folders, see :mod:`dcai.dedup.stored`."""

    def sketch(self, items: pa.Table, out_dir: Path) -> None:
        """Sketch every row of ``items`` (``idx`` + ``uri``, + pass-through columns) into ``out_dir``."""

    def candidates(
        self, sources: stored.Sources, skip: np.ndarray, *, n_rows: int, scratch: Path, new_below: int | None,
        verify: bool,
    ) -> Candidates:  # fmt: skip
        """Band rows grouped by key → :func:`pairs_of_partition` per partition. With ``verify``, each
        partition checks its pairs against every image's features (``stored.read_features``)."""

    def verify(
        self, sources: stored.Sources, a: np.ndarray, b: np.ndarray, *, parts: int, scratch: Path
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unique candidate pairs → ``(a, b, score)`` accepted, both images' features joined to each pair."""

    def explain_pairs(
        self, a: np.ndarray, b: np.ndarray, uris: np.ndarray, store: dict | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pixels.explain_table`` over the pairs: ``(kept (M,) bool, ratio (M,), transform (M,))``."""


def pairs_of_partition(
    part: pa.Table, *, cfg: DedupConfig, new_below: int | None, feats: dict | None = None
) -> pa.Table:
    """One key-complete partition of band rows → its candidate pairs ``a, b``.

    With ``feats`` (see ``stored.read_features``), the pairs are verified here and only the accepted
    ones leave, with their ``score``, plus one count row ``a = -1, b = pairs checked``.
    """
    rows = {k: part.column(k).to_numpy() for k in ("key", "idx", "ph", "src", "geo")}
    pairs = lsh.bucket_pairs(
        rows, max_bucket=cfg.max_bucket, hot_window=cfg.hot_window, phash_distance=cfg.phash_distance
    )
    if new_below is not None:  # --against: pairs among the earlier run's own images were settled there
        keep = pairs["a"] < new_below
        pairs = {k: v[keep] for k, v in pairs.items()}
    a, b = pairs["a"], pairs["b"]
    if feats is None:
        return pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())})
    hit, score = verify.verify_pairs(
        a, b, feats, size=cfg.size, radius=cfg.radius, threshold=cfg.threshold, **cfg.gate_options()
    )
    return pa.table(
        {
            "a": pa.array(np.r_[a[hit], -1], pa.int64()),
            "b": pa.array(np.r_[b[hit], len(a)], pa.int64()),
            "score": pa.array(np.r_[score, np.nan], pa.float32()),
        }
    )


def attach_and_verify(part: pa.Table, *, cfg: DedupConfig) -> pa.Table:
    """Round two of the join: attach B's features, verify, keep ``a, b, score`` of the accepted pairs."""
    return verify.verify_table(
        join.attach(part, side="b"),
        size=cfg.size,
        radius=cfg.radius,
        threshold=cfg.threshold,
        **cfg.gate_options(),
    )


def gather_pairs(tables: list[pa.Table], *, n_rows: int, verified: bool):
    """The partitions' outputs → ``(a, b, score or None, pairs)``: without ``verified`` the unique candidate
    pairs and their count; with it the accepted pairs (a pair verified in two partitions, once), their
    scores and the number of pairs checked across partitions (a pair two bands share counts twice)."""
    tables = [t for t in tables if t.num_rows]
    empty = np.empty(0, np.int64)
    if not tables:
        return empty, empty, np.empty(0, np.float32) if verified else None, 0
    t = pa.concat_tables(tables)
    a, b = t.column("a").to_numpy(), t.column("b").to_numpy()
    if not verified:
        out = lsh.unique_pairs(a, b)
        return out["a"], out["b"], None, len(out["a"])
    count = a < 0
    checked = int(b[count].sum())
    a, b, score = a[~count], b[~count], t.column("score").to_numpy()[~count]
    first = np.unique(a * n_rows + b, return_index=True)[1]
    return a[first], b[first], score[first], checked


def _column(t: pa.Table | None, name: str, n: int = 0) -> np.ndarray:
    """A column as an object array; ``n`` Nones where the table or the column is missing."""
    if t is None:
        return np.full(n, None, object)
    return (
        np.asarray(t.column(name).to_pylist(), dtype=object)
        if name in t.column_names
        else np.full(t.num_rows, None, object)
    )


def _area(t: pa.Table) -> np.ndarray:
    w = t.column("width").fill_null(0).to_numpy().astype(np.int64)
    h = t.column("height").fill_null(0).to_numpy().astype(np.int64)
    return w * h


def dedup(
    table: pa.Table, workdir: Path, cfg: DedupConfig, *, engine: Engine, against: str | Path | None = None
) -> StageOutput:
    """The stage body: the manifest in, the manifest with dedup columns (and removals) out."""
    timings: dict[str, float] = {}
    t0 = time.time()
    inactive = pc.is_in(table.column("split"), pa.array(manifest.INACTIVE_SPLITS)).to_numpy(
        zero_copy_only=False
    )
    rows = np.flatnonzero(~inactive)
    act = table.take(pa.array(rows, pa.int64()))
    n = len(rows)
    items = pa.table(
        {"idx": pa.array(np.arange(n), pa.int64()), **{k: act.column(k) for k in sketch.PASS_THROUGH}}
    )
    sig_dir = workdir / stored.SIGNATURES
    engine.sketch(items, sig_dir)
    timings["sketch"] = time.time() - t0

    t1 = (
        time.time()
    )  # exact groups: equal file bytes, equal decoded pixels (this run's rows, then --against's)
    mine = pq.read_table(sig_dir, columns=["idx", "pixel_hash", "ink"])
    mine = mine.take(pc.sort_indices(mine.column("idx")))
    old_dir, old = stored.old_sketches(against) if against else (None, None)
    n_old = old.num_rows if old is not None else 0

    def both(new: pa.Table, name: str) -> pa.Array | pa.ChunkedArray:
        col = new.column(name).combine_chunks()
        return pa.chunked_array([col, old.column(name).combine_chunks()]) if old is not None else col

    bytes_code = exact.codes(both(act, "content_hash"))
    pixel_code = exact.codes(both(mine, "pixel_hash"))
    ea, eb = (np.concatenate(p) for p in zip(exact.edges(bytes_code), exact.edges(pixel_code)))
    skip = np.flatnonzero(~exact.representatives(pixel_code))
    timings["exact"] = time.time() - t1

    t2 = time.time()  # near: candidate pairs from the band group-by, verified
    sources = [(sig_dir, 0)] + ([(old_dir, n)] if old_dir is not None else [])
    scratch = workdir / ".shuffle"  # removed after verification: the stage keeps manifest, report, sketches
    new_below = n if old is not None else None
    if (n + n_old) * stored.feature_bytes(cfg) <= cfg.broadcast_bytes:
        # every reducer verifies its own pairs against one shared copy of the features
        va, vb, score, checked, parts = engine.candidates(
            sources, skip, n_rows=n + n_old, scratch=scratch, new_below=new_below, verify=True
        )
        timings["candidates+verify"] = time.time() - t2
    else:
        ca, cb, _, checked, parts = engine.candidates(
            sources, skip, n_rows=n + n_old, scratch=scratch, new_below=new_below, verify=False
        )
        timings["candidates"] = time.time() - t2
        t3 = time.time()
        va, vb, score = engine.verify(sources, ca, cb, parts=parts, scratch=scratch)
        timings["verify"] = time.time() - t3
    shutil.rmtree(scratch, ignore_errors=True)
    assert score is not None
    gated = len(va)
    uris = np.r_[_column(act, "uri"), _column(old, "uri")]
    how, need, inline = np.empty(0, object), np.empty(0, np.int64), 0
    if cfg.pixel_check and len(va):
        t3 = time.time()
        need = np.unique(np.r_[va, vb])
        store = stored.read_inline(sources, need, cfg.broadcast_bytes) if cfg.pixel_inline_bytes else None
        inline = 0 if store is None else len(store["idx"])
        keep, _, how = engine.explain_pairs(va, vb, uris, store)
        del store
        va, vb, score, how = va[keep], vb[keep], score[keep], how[keep]
        timings["pixels"] = time.time() - t3

    t4 = time.time()  # groups: union-find over exact and near edges, then one kept per group
    comp = groups.components(n + n_old, np.r_[ea, va], np.r_[eb, vb])
    ids, splits, labels = (np.r_[_column(act, k), _column(old, k)] for k in ("id", "split", "label"))
    trusted = np.r_[
        np.asarray(act.column("trusted").fill_null(False).to_pylist(), bool), np.ones(n_old, bool)
    ]
    stay = trusted | np.isin(splits, list(cfg.pinned_splits))
    area = np.r_[_area(act), np.full(n_old, np.iinfo(np.int64).max // 2)]
    dec = policy.decide(
        comp, ids=ids, splits=splits, labels=labels, stay=stay, area=area, bytes_code=bytes_code,
        pixel_code=pixel_code, keep_order=cfg.keep_order, max_near_group=cfg.max_near_group,
    )  # fmt: skip
    review = policy.conflict_reason(labels, comp, dec["dup_conflict"])
    leak = policy.leakage(
        dec["dup_group"],
        ids=ids,
        splits=splits,
        labels=labels,
        kinds=dec["dup_kind"],
        max_listed=cfg.max_listed,
    )
    out = policy.apply(table, rows, dec, review, n)
    timings["groups"] = time.time() - t4
    metrics = policy.report_metrics(
        dec, n=n, n_old=n_old, candidates=checked, verified=len(va), parts=parts, leak=leak, timings=timings,
        listed=policy.listed_groups(dec, ids, splits, labels, uris, cfg.max_listed),
    )  # fmt: skip
    metrics["against"] = str(against) if against else None
    metrics["pixel_checked"] = gated if cfg.pixel_check else 0
    metrics["pixel_rejected"] = gated - len(va) if cfg.pixel_check else 0
    if cfg.pixel_check and gated:
        metrics["pixel_images"] = {"stored": inline, "re_read": len(need) - inline}
    metrics["near_transforms"] = {k: int(v) for k, v in zip(*np.unique(how.astype(str), return_counts=True))}
    metrics["near_pairs"] = [
        [ids[x], ids[y], round(float(s), 4)]
        for x, y, s in zip(va[: cfg.max_listed], vb[: cfg.max_listed], score[: cfg.max_listed])
    ]
    return StageOutput(out, metrics)
