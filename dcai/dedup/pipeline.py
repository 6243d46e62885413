"""Ray wiring of dedup: the steps of :mod:`dcai.dedup.dedup` that fan out, run on Ray (:class:`RayEngine`).

Sketches are a Ray Data ``map_batches``; the band group-by and the pair join are keyed shuffles through
the stage folder (``shuffle``) reduced by Ray tasks; the pixel check is a Ray Data map over the verified
pairs. Writes ``NN-dedup/{manifest.parquet, report.json, signatures.parquet/}``; the signatures folder
is what ``--against`` reads later.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dcai import imaging
from dcai.dedup import dedup as body
from dcai.dedup import join, pixels, shuffle, sketch, stored
from dcai.dedup.config import DedupConfig
from dcai.runs import Run, StageContext, StageOutput

ROWS_PER_PARTITION = 250_000  # band rows per hash partition when cfg.partitions is 0 (~6 MB each)


def _ray():
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    return ray


def write_sketches(items: pa.Table, out_dir: Path, cfg: DedupConfig) -> None:
    """Sketch every row of ``items`` (``idx`` + ``uri`` or ``data``, + pass-through columns) into ``out_dir``."""
    from dcai.ray_runtime import collect

    ray = _ray()
    chunk = cfg.batch_size * 4
    tables = [items.slice(i, chunk) for i in range(0, items.num_rows, chunk)] or [items]
    ds = ray.data.from_arrow(tables)
    ds = ds.map_batches(
        partial(sketch.sketch_table, cfg=cfg), batch_size=cfg.batch_size, batch_format="pyarrow"
    )
    # collected as they finish (a progress line now and then: decoding is the long part), then written
    sketched = [t for t in collect(ds, label="dedup: sketched", total=items.num_rows) if t.num_rows]
    if sketched:
        ray.data.from_arrow(sketched).write_parquet(str(out_dir), min_rows_per_file=cfg.batch_size * 8)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)


def _read(ray, sources: stored.Sources, columns: list[str]):
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


def _as_table(batch: dict) -> pa.Table:
    return pa.table({k: pa.array(np.asarray(v)) for k, v in batch.items()})


def _keyed(ray, ds, reduce_fn, *, root: Path, parts: int):
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


def _pairs_with_ref(part: pa.Table, *, feats=None, **kwargs) -> pa.Table:
    """:func:`body.pairs_of_partition` with the features read from their one object-store copy."""
    import ray

    return body.pairs_of_partition(part, feats=None if feats is None else ray.get(feats), **kwargs)


def _attach_to_b(part: pa.Table, *, sc: pa.Schema) -> pa.Table:
    """Round one of the join: attach A's features, then re-key the pair on ``b`` for round two."""
    t = join.attach(part, side="a")
    return join.pair_rows(t.column("b").to_numpy(), t.column("a").to_numpy(), t, sc)


def _explain_with_store(batch: pa.Table, *, store, **kwargs) -> pa.Table:
    import ray

    return pixels.explain_table(batch, store=None if store is None else ray.get(store), **kwargs)


class RayEngine:
    """:class:`dcai.dedup.dedup.Engine` on Ray (see the module docstring)."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def sketch(self, items: pa.Table, out_dir: Path) -> None:
        write_sketches(items, out_dir, self.cfg)

    def candidates(self, sources, skip, *, n_rows, scratch, new_below, verify):
        """The group-by shuffles band rows by key (see :func:`_keyed`); each partition is then grouped with
        one numpy sort instead of a Python call per bucket (``map_groups`` would make millions of such calls)."""
        ray, cfg = _ray(), self.cfg
        rows = _read(ray, sources, ["idx", "ink", "phash", "bands", "canvas_w", "canvas_h", "sy"])
        rows = rows.map_batches(
            partial(sketch.explode_table, use_phash=cfg.phash_candidates, min_ink=cfg.min_ink, skip=skip),
            batch_format="pyarrow",
            batch_size=cfg.batch_size * 8,
        )
        per_image = cfg.bands + (4 if cfg.phash_candidates else 0)
        parts = cfg.partitions or max(2, n_rows * per_image // ROWS_PER_PARTITION)
        rows = rows.map_batches(_as_table, batch_format="numpy", batch_size=None)
        feats = ray.put(stored.read_features(sources, n_rows)) if verify else None
        fn = partial(_pairs_with_ref, cfg=cfg, new_below=new_below, feats=feats)
        pairs = _keyed(ray, rows, fn, root=scratch / "bands", parts=parts)
        tables = ray.get(pairs.to_arrow_refs())
        del feats
        return (*body.gather_pairs(tables, n_rows=n_rows, verified=verify), parts)

    def verify(self, sources, a, b, *, parts, scratch):
        """Attach both images' masks to each candidate (two keyed shuffles, see ``join``) and keep the verified."""
        if len(a) == 0:
            return a, b, np.empty(0, np.float32)
        ray, cfg = _ray(), self.cfg
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
            ray, pairs.union(side_a), partial(_attach_to_b, sc=sc2), root=scratch / "join-a", parts=n_join
        )
        side_b = feats.map_batches(
            partial(join.feature_rows, keep=keep, side="b", sc=sc2), batch_format="pyarrow", batch_size=None
        )
        verified = partial(body.attach_and_verify, cfg=cfg)
        out = _keyed(ray, with_a.union(side_b), verified, root=scratch / "join-b", parts=n_join)
        tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
        if not tables:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
        t = pa.concat_tables(tables)
        return t.column("a").to_numpy(), t.column("b").to_numpy(), t.column("score").to_numpy()

    def explain_pairs(self, a, b, uris, store=None):
        """A Ray Data map over the pairs (at most ``cfg.pixel_batch`` a task, and at least 4 tasks a CPU of
        the cluster): the pairs are few (the cheap gates passed them) but each costs two decodes and a
        registration search (~0.3 ms), and at scale they are millions, too many for the driver. The files
        come from ``store`` (``stored.read_inline``; one object-store copy every task reads) or, past it, are
        re-read from their URIs (the manifest's, or the earlier run's sketches' with ``--against``)."""
        if len(a) == 0:
            return np.ones(0, bool), np.zeros(0, np.float32), np.empty(0, object)
        ray, cfg = _ray(), self.cfg
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
            _explain_with_store,
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
        return pixels.line_up(pa.concat_tables(tables), a, b)


def run(
    run_dir: str | Path, cfg: DedupConfig, *, against: str | Path | None = None, force: bool = False
) -> tuple[dict, bool]:
    """Dedup the newest manifest of ``run_dir`` (optionally against an earlier run's sketches).
    Returns ``(report, ran)``."""
    extra = None
    if against:
        folder, _ = stored.old_sketches(against)
        extra = {
            "against": str(Path(against).resolve()),
            "sketches": sorted(p.name for p in folder.iterdir()),
        }

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        return body.dedup(table, ctx.workdir, cfg, engine=RayEngine(cfg), against=against)

    _, report, ran = Run(run_dir).execute(
        stored.STAGE, stage, config=cfg.to_dict(), extra_key=extra, force=force
    )
    return report, ran
