"""Ray wiring of ingest: scan → Ray Data ``map_batches(validate)`` → manifest in ``NN-ingest/``."""

from __future__ import annotations

import os
from functools import partial

import pyarrow as pa

from dcai import manifest
from dcai.ingest import scan as scan_mod
from dcai.ingest.config import IngestConfig
from dcai.ingest.validate import validate_batch
from dcai.runs import Run, StageContext, StageOutput

STAGE = "ingest"


def check_classes(records: list[dict], classes: tuple[str, ...], source: str) -> None:
    if not classes:
        return
    unknown = sorted({r["label"] for r in records} - set(classes))
    if unknown:
        raise scan_mod.SourceError(
            f"{source}: label folder(s) {unknown} are not in --classes {list(classes)}"
        )


def _source_key(records: list[dict]) -> list:
    """What decides whether a re-ingest is needed: each file's path, size and mtime."""
    out: list[tuple] = []
    for r in records:
        try:
            st = os.stat(r["uri"])
            out.append((r["uri"], r["label"], r["source_split"], st.st_size, int(st.st_mtime)))
        except OSError:
            out.append((r["uri"], r["label"], r["source_split"], None, None))
    return out


def validate_all(records: list[dict], cfg: IngestConfig, ctx: StageContext) -> pa.Table:
    """Decode and validate every record in Ray Data; returns the manifest in scan order."""
    import ray

    from dcai.ray_runtime import init_ray

    init_ray()
    if not records:
        return manifest.empty()
    fn = partial(
        validate_batch,
        images_dir=str(ctx.images_dir),
        final_images_dir=ctx.final_path(ctx.images_dir),
        max_pixels=cfg.max_pixels,
        trusted_splits=cfg.trusted_splits,
    )
    ds = ray.data.from_items(records, override_num_blocks=max(1, min(200, len(records) // cfg.batch_size)))
    out = ds.map_batches(fn, batch_format="pyarrow", batch_size=cfg.batch_size)
    tables = [t for t in ray.get(out.to_arrow_refs()) if t.num_rows]
    table = manifest.conform(pa.concat_tables([manifest.conform(t) for t in tables]))
    order = {r["uri"]: i for i, r in enumerate(records)}
    sort_key = pa.array([order[u] for u in table.column("source_uri").to_pylist()])
    return table.take(pa.compute.sort_indices(sort_key))


def run(run_dir: str, cfg: IngestConfig, *, source: str, force: bool = False) -> tuple[dict, bool]:
    """Ingest ``source`` (class folders, or a CSV / Parquet list) into ``run_dir``. Returns ``(report, ran)``."""
    records, layout = scan_mod.scan(source)
    check_classes(records, cfg.classes, str(source))

    def stage(_: pa.Table | None, ctx: StageContext) -> StageOutput:
        table = validate_all(records, cfg, ctx)
        if table.num_rows != len(records):
            raise RuntimeError(f"ingest produced {table.num_rows} rows for {len(records)} files")
        q = table.filter(pa.compute.equal(table.column("split"), manifest.QUARANTINE))
        conv = table.filter(pa.compute.is_valid(table.column("note")))
        return StageOutput(
            table,
            {
                **layout,
                "files_found": len(records),
                "quarantined": q.num_rows,
                "converted": conv.num_rows,
                "quarantine": [
                    {"uri": u, "reason": r}
                    for u, r in zip(q.column("source_uri").to_pylist(), q.column("reason").to_pylist())
                ],
                "conversions": [
                    {"uri": u, "note": n}
                    for u, n in zip(conv.column("source_uri").to_pylist(), conv.column("note").to_pylist())
                ],
            },
        )

    _, report, ran = Run(run_dir).execute(
        STAGE, stage, config=cfg.to_dict(), extra_key=_source_key(records), force=force, needs_input=False
    )
    return report, ran


def summary_table(report: dict) -> str:
    """The summary printed after ingest: rows per split and class, then quarantined and converted files."""
    counts = report["counts"]
    labels = sorted({lab for d in counts.values() for lab in d})
    width = max([5] + [len(s) for s in counts])
    lines = [f"{'split':<{width}} " + " ".join(f"{lab:>5}" for lab in labels) + f" {'total':>6}"]
    for split in sorted(counts):
        row = counts[split]
        lines.append(
            f"{split:<{width}} "
            + " ".join(f"{row.get(lab, 0):>5}" for lab in labels)
            + f" {sum(row.values()):>6}"
        )
    lines.append(
        f"{report['rows']} rows from {report['files_found']} files ({report['layout']} layout); "
        f"{report['quarantined']} quarantined, {report['converted']} converted"
    )
    for q in report["quarantine"][:50]:
        lines.append(f"  quarantined {q['uri']}: {q['reason']}")
    for c in report["conversions"][:50]:
        lines.append(f"  converted   {c['uri']}: {c['note']}")
    return "\n".join(lines)
