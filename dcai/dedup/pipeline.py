"""Ray wiring of dedup: sketches (``map_batches``) → exact groups → band rows → group-by on band keys →
candidate pairs → verify (in the reducers, or two joins) → pixel check of the verified pairs (a map over
them) → union-find → policy. Writes ``NN-dedup/{manifest.parquet,
report.json, signatures.parquet/}``; the signatures folder is what ``--against`` reads later.
"""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dcai import imaging, manifest
from dcai.dedup import exact, groups, join, lsh, normalise, pixels, policy, shuffle, sketch, verify
from dcai.dedup.config import DedupConfig
from dcai.runs import Run, StageContext, StageOutput

STAGE = "dedup"
SIGNATURES = "signatures.parquet"  # a folder of Parquet files, one per written block
ROWS_PER_PARTITION = 250_000  # band rows per hash partition when cfg.partitions is 0 (~6 MB each)


def _ray():
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    return ray


def write_sketches(items: pa.Table, out_dir: Path, cfg: DedupConfig) -> None:
    """Sketch every row of ``items`` (``idx`` + ``uri`` or ``data``, + pass-through columns) into ``out_dir``."""
    ray = _ray()
    chunk = cfg.batch_size * 4
    tables = [items.slice(i, chunk) for i in range(0, items.num_rows, chunk)] or [items]
    ds = ray.data.from_arrow(tables)
    ds = ds.map_batches(
        partial(sketch.sketch_table, cfg=cfg), batch_size=cfg.batch_size, batch_format="pyarrow"
    )
    ds.write_parquet(str(out_dir), min_rows_per_file=cfg.batch_size * 8)


def _read(ray, sources: list[tuple[Path, int]], columns: list[str]):
    """Union of sketch folders; ``idx`` shifted by each folder's offset (an earlier run's rows follow the new)."""
    parts = []
    for folder, offset in sources:
        ds = ray.data.read_parquet(str(folder), columns=columns)
        if offset:
            ds = ds.map_batches(partial(_shift, offset=offset), batch_format="pyarrow", batch_size=None)
        parts.append(ds)
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def _shift(batch: pa.Table, *, offset: int) -> pa.Table:
    return batch.set_column(batch.column_names.index("idx"), "idx", pc.add(batch.column("idx"), offset))


def _keyed(ray, ds, reduce_fn, *, root: Path, parts: int, cfg: DedupConfig):
    """Apply ``reduce_fn`` (Arrow table → Arrow table) to each key-complete partition of ``ds`` (column ``key``):
    plain tasks scatter the rows through ``root`` by key, one task a partition gathers and reduces (``shuffle``).
    """
    scatter = partial(shuffle.scatter, root=str(root), parts=parts)
    ds.map_batches(scatter, batch_format="pyarrow", batch_size=None).materialize()
    jobs = ray.data.range(parts, override_num_blocks=min(parts, 64))
    return jobs.map_batches(
        partial(_reduce_parts, root=str(root), fn=reduce_fn), batch_format="numpy", batch_size=1
    )


def _reduce_parts(batch: dict, *, root: str, fn) -> pa.Table:
    out = [fn(t) for t in (shuffle.gather(root, int(p)) for p in batch["id"]) if t is not None]
    out = [t for t in out if t.num_rows]
    return (
        pa.concat_tables(out)
        if out
        else pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    )


def _pairs_of_partition(part: pa.Table, *, cfg: DedupConfig, new_below: int | None, feats=None) -> pa.Table:
    """One key-complete partition of band rows → its candidate pairs ``a, b``.

    With ``feats`` (an object ref of :func:`read_features`), the pairs are verified here and only the
    accepted ones leave, with their ``score``, plus one count row ``a = -1, b = pairs checked``.
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
    import ray

    hit, score = verify.check(
        a, b, ray.get(feats), size=cfg.size, radius=cfg.radius, threshold=cfg.threshold, **cfg.gate_options()
    )
    return pa.table(
        {
            "a": pa.array(np.r_[a[hit], -1], pa.int64()),
            "b": pa.array(np.r_[b[hit], len(a)], pa.int64()),
            "score": pa.array(np.r_[score, np.nan], pa.float32()),
        }
    )


def read_features(sources: list[tuple[Path, int]], n_rows: int) -> dict[str, np.ndarray]:
    """What ``verify.check`` reads of every image, row ``idx`` at position ``idx`` (offsets applied)."""
    parts = []
    for folder, offset in sources:
        t = pq.read_table(folder, columns=["idx", *join.FEATURES])
        parts.append((t.column("idx").to_numpy() + offset, t))
    idx = np.concatenate([i for i, _ in parts])
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(n_rows)):
        raise RuntimeError(
            f"dedup: sketches hold {len(idx)} rows, not rows 0..{n_rows - 1} (a partial sketch?)"
        )
    feats = {k: np.concatenate([t.column(k).to_numpy() for _, t in parts])[order] for k in verify.GEOMETRY}
    feats["mask"] = np.concatenate([normalise.packed_masks(t.column("mask")) for _, t in parts])[order]
    return feats


def feature_bytes(cfg: DedupConfig) -> int:
    """Bytes a row of :func:`read_features` takes."""
    return (cfg.size * cfg.size + 7) // 8 + 4 * len(verify.GEOMETRY)


def candidate_pairs(
    sources,
    skip: np.ndarray,
    cfg: DedupConfig,
    *,
    n_rows: int,
    scratch: Path,
    new_below: int | None = None,
    feats=None,
):
    """Band rows → hash partitions by band key → pairs per partition.

    Returns ``(a, b, score, pairs, partitions)``: without ``feats`` the unique candidate pairs (``score``
    None, ``pairs`` their count); with ``feats`` (see :func:`read_features`) the verified pairs, their
    scores and the number of pairs checked across partitions (a pair two bands share counts twice).
    The group-by shuffles band rows by key (see :func:`_keyed`); each partition is then grouped with one
    numpy sort instead of a Python call per bucket (``map_groups`` would make millions of such calls).
    """
    ray = _ray()
    rows = _read(ray, sources, ["idx", "ink", "phash", "bands", "canvas_w", "canvas_h", "sy"])
    rows = rows.map_batches(
        partial(sketch.explode_table, use_phash=cfg.phash_candidates, min_ink=cfg.min_ink, skip=skip),
        batch_format="pyarrow",
        batch_size=cfg.batch_size * 8,
    )
    per_image = cfg.bands + (4 if cfg.phash_candidates else 0)
    parts = cfg.partitions or max(2, n_rows * per_image // ROWS_PER_PARTITION)
    rows = rows.map_batches(_as_table, batch_format="numpy", batch_size=None)
    fn = partial(_pairs_of_partition, cfg=cfg, new_below=new_below, feats=feats)
    pairs = _keyed(ray, rows, fn, root=scratch / "bands", parts=parts, cfg=cfg)
    tables = [t for t in ray.get(pairs.to_arrow_refs()) if t.num_rows]
    empty = np.empty(0, np.int64)
    if not tables:
        return empty, empty, None if feats is None else np.empty(0, np.float32), 0, parts
    t = pa.concat_tables(tables)
    a, b = t.column("a").to_numpy(), t.column("b").to_numpy()
    if feats is None:
        out = lsh.unique_pairs(a, b)
        return out["a"], out["b"], None, len(out["a"]), parts
    count = a < 0
    checked = int(b[count].sum())
    a, b, score = a[~count], b[~count], t.column("score").to_numpy()[~count]
    first = np.unique(a * n_rows + b, return_index=True)[1]  # a pair verified in two partitions, once
    return a[first], b[first], score[first], checked, parts


def _as_table(batch: dict) -> pa.Table:
    return pa.table({k: pa.array(np.asarray(v)) for k, v in batch.items()})


def _attach_to_b(part: pa.Table, *, sc: pa.Schema) -> pa.Table:
    """Round one of the join: attach A's features, then re-key the pair on ``b`` for round two."""
    t = join.attach(part, side="a")
    return join.pair_rows(t.column("b").to_numpy(), t.column("a").to_numpy(), t, sc)


def _attach_verify(part: pa.Table, *, cfg: DedupConfig) -> pa.Table:
    return verify.verify_table(
        join.attach(part, side="b"),
        size=cfg.size,
        radius=cfg.radius,
        threshold=cfg.threshold,
        **cfg.gate_options(),
    )


def verify_pairs(sources, a: np.ndarray, b: np.ndarray, cfg: DedupConfig, *, parts: int, scratch: Path):
    """Attach both images' masks to each candidate (two keyed shuffles, see ``join``) and keep the verified."""
    if len(a) == 0:
        return a, b, np.empty(0, np.float32)
    ray = _ray()
    keep = np.unique(np.r_[a, b])  # only images in some candidate pair travel
    mask_bytes = (cfg.size * cfg.size + 7) // 8
    n_join = max(2, min(parts, len(a) // 50_000 + 2))
    chunk = 100_000
    sc1, sc2 = join.schema(mask_bytes, ("a",)), join.schema(mask_bytes, ("a", "b"))
    pairs = ray.data.from_arrow(
        [join.pair_rows(a[i : i + chunk], b[i : i + chunk], None, sc1) for i in range(0, len(a), chunk)]
    )
    feats = _read(ray, sources, ["idx", *join.FEATURES])
    side_a = feats.map_batches(
        partial(join.feature_rows, keep=keep, side="a", sc=sc1), batch_format="pyarrow", batch_size=None
    )
    with_a = _keyed(
        ray,
        pairs.union(side_a),
        partial(_attach_to_b, sc=sc2),
        root=scratch / "join-a",
        parts=n_join,
        cfg=cfg,
    )
    side_b = feats.map_batches(
        partial(join.feature_rows, keep=keep, side="b", sc=sc2), batch_format="pyarrow", batch_size=None
    )
    verified = partial(_attach_verify, cfg=cfg)
    out = _keyed(ray, with_a.union(side_b), verified, root=scratch / "join-b", parts=n_join, cfg=cfg)
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    if not tables:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    t = pa.concat_tables(tables)
    return t.column("a").to_numpy(), t.column("b").to_numpy(), t.column("score").to_numpy()


def read_inline(sources: list[tuple[Path, int]], need: np.ndarray, limit: int) -> dict | None:
    """The encoded files the sketches kept (``pixels.inline_store``) of the images ``need`` (sorted idx).

    None when the sketches kept none (``pixel_inline_bytes=0``, or an earlier run's sketches from before
    the column existed), or when they total more than ``limit`` bytes: then every file is re-read.
    """
    idx, data, size = [], [], 0
    for folder, offset in sources:
        files = sorted(folder.glob("*.parquet"))
        if not files or "data" not in pq.read_schema(files[0]).names:
            continue
        for f in files:  # one file at a time: the driver never holds more than `limit` + one file
            t = pq.read_table(f, columns=["idx", "data"])
            i = t.column("idx").to_numpy() + offset
            hit = np.isin(i, need)
            idx.append(i[hit])
            data.append(t.column("data").filter(pa.array(hit)).combine_chunks())
            size += data[-1].nbytes
            if size > limit:
                return None
    if not idx:
        return None
    store = pixels.inline_store(np.concatenate(idx), pa.chunked_array(data).combine_chunks())
    return store if len(store["idx"]) else None


def _check_with_store(batch: pa.Table, *, store, **kwargs) -> pa.Table:
    import ray

    return pixels.check_table(batch, store=None if store is None else ray.get(store), **kwargs)


def check_pixels(
    a: np.ndarray, b: np.ndarray, uris: np.ndarray, cfg: DedupConfig, store: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check each accepted near pair at native resolution; ``(kept (M,) bool, ratio (M,), transform (M,))``.

    A Ray Data map over the pairs (at most ``cfg.pixel_batch`` a task, and at least 4 tasks a CPU of the
    cluster): the pairs are few (the cheap gates passed them) but each costs two decodes and a
    registration search (~0.3 ms), and at scale they are millions, too many for the driver. The files come from ``store`` (see :func:`read_inline`; one
    object-store copy every task reads) or, past it, are re-read from their URIs, which come from the
    manifest (or the earlier run's sketches with ``--against``) that the driver holds anyway.
    See ``pixels.explain``.
    """
    if len(a) == 0:
        return np.ones(0, bool), np.zeros(0, np.float32), np.empty(0, object)
    ray = _ray()
    t = pa.table(
        {
            "a": pa.array(a, pa.int64()),
            "b": pa.array(b, pa.int64()),
            "uri_a": pa.array(uris[a].tolist(), pa.string()),
            "uri_b": pa.array(uris[b].tolist(), pa.string()),
        }
    )
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    step = max(1, min(cfg.pixel_batch, -(-len(a) // (4 * cpus))))
    ds = ray.data.from_arrow([t.slice(i, step) for i in range(0, t.num_rows, step)])
    fn = partial(
        _check_with_store,
        store=None if store is None else ray.put(store),
        tol=cfg.pixel_tol,
        stroke_tol=cfg.stroke_tol,
    )
    try:
        tables = ray.get(ds.map_batches(fn, batch_format="pyarrow", batch_size=step).to_arrow_refs())
    except Exception as e:  # Ray wraps the task's error (as text, across processes): name the file again
        marker = f"{imaging.BadImage.__module__}.BadImage: "
        lines = [ln.split(marker, 1)[1] for ln in str(e).splitlines() if marker in ln]
        if lines:
            raise imaging.BadImage(lines[-1]) from e
        raise
    out = pa.concat_tables(tables)
    # map_batches may reorder blocks: line the results up with the input pairs by (a, b)
    n = int(max(a.max(), b.max())) + 1
    key_in, key_out = a * n + b, out.column("a").to_numpy() * n + out.column("b").to_numpy()
    order = np.argsort(key_out)
    pos = order[np.searchsorted(key_out[order], key_in)]
    ratio = out.column("ratio").to_numpy()[pos]
    how = np.asarray(out.column("transform").to_pylist(), object)[pos]
    return ratio <= 1.0, ratio, how


def _column(t: pa.Table, name: str) -> np.ndarray:
    return (
        np.asarray(t.column(name).to_pylist(), dtype=object)
        if name in t.column_names
        else np.full(t.num_rows, None, object)
    )


def _old_sketches(against: str | Path) -> tuple[Path, pa.Table]:
    from dcai.errors import InputError

    stage = Run(against).stage_dir(STAGE)
    folder = stage / SIGNATURES if stage else None
    if folder is None or not folder.exists():
        raise InputError(
            f"{against}: --against needs a finished dedup stage with {SIGNATURES} (run `dcai dedup --run {against}`)"
        )
    t = pq.read_table(folder, columns=["idx", "id", "uri", "content_hash", "pixel_hash", "label", "split"])
    return folder, t.take(pc.sort_indices(t.column("idx")))


def dedup(
    table: pa.Table, workdir: Path, cfg: DedupConfig, *, against: str | Path | None = None
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
    sig_dir = workdir / SIGNATURES
    write_sketches(items, sig_dir, cfg)
    timings["sketch"] = time.time() - t0

    t1 = time.time()
    mine = pq.read_table(sig_dir, columns=["idx", "pixel_hash", "ink"])
    mine = mine.take(pc.sort_indices(mine.column("idx")))
    old_dir, old = _old_sketches(against) if against else (None, None)
    n_old = old.num_rows if old is not None else 0
    cat = lambda new, o: pa.chunked_array([new, o]) if old is not None else new  # noqa: E731
    bytes_code = exact.codes(
        cat(
            act.column("content_hash").combine_chunks(),
            old.column("content_hash").combine_chunks() if old else None,
        )
    )
    pixel_code = exact.codes(
        cat(
            mine.column("pixel_hash").combine_chunks(),
            old.column("pixel_hash").combine_chunks() if old else None,
        )
    )
    ea, eb = (np.concatenate(p) for p in zip(exact.edges(bytes_code), exact.edges(pixel_code)))
    skip = np.flatnonzero(~exact.representatives(pixel_code))
    timings["exact"] = time.time() - t1

    t2 = time.time()
    sources = [(sig_dir, 0)] + ([(old_dir, n)] if old_dir is not None else [])
    scratch = workdir / ".shuffle"  # removed after verification: the stage keeps manifest, report, sketches
    new_below = n if old is not None else None
    if (n + n_old) * feature_bytes(cfg) <= cfg.broadcast_bytes:
        # every reducer verifies its own pairs against one shared copy of the features
        feats = _ray().put(read_features(sources, n + n_old))
        va, vb, score, checked, parts = candidate_pairs(
            sources, skip, cfg, n_rows=n + n_old, scratch=scratch, new_below=new_below, feats=feats
        )
        del feats
        timings["candidates+verify"] = time.time() - t2
    else:
        ca, cb, _, checked, parts = candidate_pairs(
            sources, skip, cfg, n_rows=n + n_old, scratch=scratch, new_below=new_below
        )
        timings["candidates"] = time.time() - t2
        t3 = time.time()
        va, vb, score = verify_pairs(sources, ca, cb, cfg, parts=parts, scratch=scratch)
        timings["verify"] = time.time() - t3
    shutil.rmtree(scratch, ignore_errors=True)
    gated = len(va)
    how, need, inline = np.empty(0, object), np.empty(0, np.int64), 0
    if cfg.pixel_check and len(va):
        t3 = time.time()
        uris = np.r_[_column(act, "uri"), _column(old, "uri") if old is not None else []]
        need = np.unique(np.r_[va, vb])
        store = read_inline(sources, need, cfg.broadcast_bytes) if cfg.pixel_inline_bytes else None
        inline = 0 if store is None else len(store["idx"])
        keep, _, how = check_pixels(va, vb, uris, cfg, store)
        del store
        va, vb, score, how = va[keep], vb[keep], score[keep], how[keep]
        timings["pixels"] = time.time() - t3

    t4 = time.time()
    comp = groups.components(n + n_old, np.r_[ea, va], np.r_[eb, vb])
    ids, splits, labels = (
        np.r_[_column(act, k), _column(old, k) if old is not None else []] for k in ("id", "split", "label")
    )
    trusted = np.r_[
        np.asarray(act.column("trusted").fill_null(False).to_pylist(), bool), np.ones(n_old, bool)
    ]
    stay = trusted | np.isin(splits, list(cfg.pinned_splits))
    area = np.r_[_area(act), np.full(n_old, np.iinfo(np.int64).max // 2)]
    dec = policy.decide(
        comp,
        ids=ids,
        splits=splits,
        labels=labels,
        stay=stay,
        area=area,
        bytes_code=bytes_code,
        pixel_code=pixel_code,
        keep_order=cfg.keep_order,
        max_near_group=cfg.max_near_group,
    )
    review = policy.conflict_reason(labels, comp, dec["dup_conflict"])
    leak = policy.leakage(
        dec["dup_group"],
        ids=ids,
        splits=splits,
        labels=labels,
        kinds=dec["dup_kind"],
        max_listed=cfg.max_listed,
    )
    out = _apply(table, rows, dec, review, n)
    timings["groups"] = time.time() - t4
    metrics = _metrics(
        dec,
        n=n,
        n_old=n_old,
        candidates=checked,
        verified=len(va),
        parts=parts,
        leak=leak,
        timings=timings,
        listed=_listed(
            dec,
            ids,
            splits,
            labels,
            np.r_[_column(act, "uri"), _column(old, "uri") if old is not None else []],
            cfg.max_listed,
        ),
    )
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


def _area(t: pa.Table) -> np.ndarray:
    w = t.column("width").fill_null(0).to_numpy().astype(np.int64)
    h = t.column("height").fill_null(0).to_numpy().astype(np.int64)
    return w * h


def _apply(table: pa.Table, rows: np.ndarray, dec: dict, review: np.ndarray, n: int) -> pa.Table:
    """Write the decisions of the first ``n`` (this run's) rows into the full manifest."""
    full = {k: np.full(table.num_rows, None, object) for k in ("dup_group", "dup_kind", "dup_of", "review")}
    conflict = np.full(table.num_rows, None, object)
    for k in ("dup_group", "dup_kind", "dup_of"):
        full[k][rows] = dec[k][:n]
    conflict[rows] = dec["dup_conflict"][:n]
    full["review"][rows] = review[:n]
    if "review" in table.column_names:  # keep another stage's flag where dedup has nothing to say
        prior = np.asarray(table.column("review").to_pylist(), dtype=object)
        full["review"] = np.where(full["review"] == None, prior, full["review"])  # noqa: E711
    for k in ("dup_group", "dup_kind", "dup_of", "review"):
        table = manifest.with_column(table, k, pa.array(full[k].tolist(), pa.string()))
    table = manifest.with_column(table, "dup_conflict", pa.array(conflict.tolist(), pa.bool_()))
    remove = np.zeros(table.num_rows, bool)
    remove[rows] = dec["remove"][:n]
    if remove.any():
        table = manifest.set_split(table, remove, manifest.REMOVED, reason="dedup: duplicate")
        # set_split records one reason for all rows; naming each row's keeper that way would take one
        # O(N) call per group, so the keeper's id is filled in here, on exactly the rows just moved
        reasons = np.asarray(table.column("reason").to_pylist(), dtype=object)
        reasons[remove] = ["dedup: duplicate of " + k for k in full["dup_of"][remove]]
        table = table.set_column(
            table.column_names.index("reason"), "reason", pa.array(reasons.tolist(), pa.string())
        )
    return table


def _listed(dec: dict, ids, splits, labels, uris, limit: int) -> list[dict]:
    """Up to ``limit`` groups with their members, near and conflicting groups first (for the HTML report)."""
    by: dict[str, list[int]] = {}
    for i in np.flatnonzero(dec["dup_group"] != None):  # noqa: E711
        by.setdefault(dec["dup_group"][i], []).append(int(i))

    def rank(item):
        g, m = item
        return (not dec["dup_conflict"][m[0]], policy.KINDS.index(dec["dup_kind"][m[0]]) * -1, g)

    out = []
    for g, members in sorted(by.items(), key=rank)[:limit]:
        out.append(
            {
                "group": g,
                "kind": max((dec["dup_kind"][i] for i in members), key=policy.KINDS.index),
                "conflict": bool(dec["dup_conflict"][members[0]]),
                "members": [
                    {
                        "id": ids[i],
                        "split": splits[i],
                        "label": labels[i],
                        "uri": uris[i],
                        "kind": dec["dup_kind"][i],
                        "removed": bool(dec["remove"][i]),
                        "keeper": dec["dup_of"][i] is None,
                    }
                    for i in members
                ],
            }
        )
    return out


def _metrics(dec, *, n, n_old, candidates, verified, parts, leak, timings, listed) -> dict:
    in_group = dec["dup_group"] != None  # noqa: E711
    group_ids = set(dec["dup_group"][in_group].tolist())
    weakest: dict[str, int] = {}
    for g, k in zip(dec["dup_group"][in_group], dec["dup_kind"][in_group]):
        weakest[g] = max(weakest.get(g, 0), policy.KINDS.index(k))
    by_kind = {k: sum(1 for v in weakest.values() if v == i) for i, k in enumerate(policy.KINDS)}
    seconds = sum(timings.values())
    return {
        "images": n,
        "against_images": n_old,
        "groups": len(group_ids),
        "groups_by_kind": by_kind,
        "in_groups": int(in_group.sum()),
        "removed": int(dec["remove"].sum()),
        "conflict_groups": len(set(dec["dup_group"][dec["dup_conflict"]].tolist())),
        "candidate_pairs": int(candidates),
        "verified_pairs": int(verified),
        "partitions": int(parts),
        "leakage": leak,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "images_per_second": round(n / seconds, 1) if seconds else None,
        "listed": listed,
    }


def run(
    run_dir: str | Path, cfg: DedupConfig, *, against: str | Path | None = None, force: bool = False
) -> dict:
    """Dedup the newest manifest of ``run_dir`` (optionally against an earlier run's sketches); returns the report."""
    extra = None
    if against:
        folder, _ = _old_sketches(against)
        extra = {
            "against": str(Path(against).resolve()),
            "sketches": sorted(p.name for p in folder.iterdir()),
        }

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        return dedup(table, ctx.workdir, cfg, against=against)

    _, report, _ = Run(run_dir).execute(STAGE, stage, config=cfg.to_dict(), extra_key=extra, force=force)
    return report
