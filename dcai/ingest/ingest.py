"""The ingest stage's body, without Ray: scanned records → decoded and validated manifest rows (a
``validate`` passed in maps ``validate.validate_batch`` over them) → the manifest in scan order, with
quarantined and converted files listed in the report."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import pyarrow as pa

from dcai import manifest
from dcai.ingest import scan as scan_mod
from dcai.ingest.config import IngestConfig
from dcai.ingest.validate import validate_batch
from dcai.runs import StageContext, StageOutput

# validate(records, fn) -> fn (validate_batch with its options bound) over the records, manifest rows out
Validate = Callable[[list[dict], Callable[[pa.Table], pa.Table]], list[pa.Table]]


def check_classes(records: list[dict], classes: tuple[str, ...], source: str) -> None:
    if not classes:
        return
    unknown = sorted({r["label"] for r in records} - set(classes))
    if unknown:
        raise scan_mod.SourceError(
            f"{source}: label folder(s) {unknown} are not in --classes {list(classes)}"
        )


def source_key(records: list[dict]) -> list:
    """What decides whether a re-ingest is needed: each file's path, size and mtime."""
    out: list[tuple] = []
    for r in records:
        if "size" in r:  # object storage: the listing said already
            out.append((r["uri"], r["label"], r["source_split"], r["size"], r["mtime"]))
            continue
        try:
            st = os.stat(r["uri"])
            out.append((r["uri"], r["label"], r["source_split"], st.st_size, int(st.st_mtime)))
        except OSError:
            out.append((r["uri"], r["label"], r["source_split"], None, None))
    return out


def local_validate(records: list[dict], fn: Callable[[pa.Table], pa.Table]) -> list[pa.Table]:
    """Every record validated in this process, as one batch."""
    return [fn(pa.Table.from_pylist(records))]


def ingest(
    records: list[dict],
    layout: dict,
    cfg: IngestConfig,
    ctx: StageContext,
    *,
    validate: Validate = local_validate,
) -> StageOutput:
    """The stage body: one manifest row per record, in scan order; broken files in ``quarantine``."""
    if records:
        fn = validator(cfg, ctx)
        tables = [t for t in validate(records, fn) if t.num_rows]
        table = manifest.conform(pa.concat_tables([manifest.conform(t) for t in tables]))
        order = {r["uri"]: i for i, r in enumerate(records)}
        sort_key = pa.array([order[u] for u in table.column("source_uri").to_pylist()])
        table = table.take(pa.compute.sort_indices(sort_key))
    else:
        table = manifest.empty()
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


def validator(cfg: IngestConfig, ctx: StageContext) -> Callable[[pa.Table], pa.Table]:
    """``validate_batch`` with the stage's options: images go to the stage's ``images/`` folder."""
    return partial(
        validate_batch,
        images_dir=str(ctx.images_dir),
        final_images_dir=ctx.final_path(ctx.images_dir),
        max_pixels=cfg.max_pixels,
        trusted_splits=cfg.trusted_splits,
    )
