"""The export stage's body, without Ray: enforce the cap, name each file, copy them (a ``copy`` passed in),
write ``OUT/manifest.parquet`` and ``OUT/export.json``. The run's manifest passes through (trimmed rows
move to ``surplus``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pyarrow as pa

from dcai import imaging, manifest, storage
from dcai.export.config import ExportConfig
from dcai.export.plan import destinations, enforce_cap
from dcai.runs import StageOutput
from dcai.storage import AnyPath

# copy(rows) -> bytes copied; rows: dicts with id, uri, dest
Copy = Callable[[list[dict]], int]


def copy_batch(batch: pa.Table) -> pa.Table:
    """Copy each ``uri`` to ``dest`` (each a local path or any pyarrow.fs URI); ``(id, bytes)`` per row (a
    ``map_batches`` body)."""
    sizes = []
    for uri, dest in zip(batch.column("uri").to_pylist(), batch.column("dest").to_pylist()):
        data = imaging.read_bytes(uri)
        storage.write_file(dest, data)
        sizes.append(len(data))
    return pa.table({"id": batch.column("id"), "bytes": pa.array(sizes, pa.int64())})


def local_copy(rows: list[dict]) -> int:
    """Every file copied in this process."""
    if not rows:
        return 0
    return int(copy_batch(pa.Table.from_pylist(rows)).column("bytes").to_numpy().sum())


def export(table: pa.Table, cfg: ExportConfig, out_path: AnyPath, *, copy: Copy = local_copy) -> StageOutput:
    """The stage body: the manifest in (and out, trimmed to the cap); the files and their manifest in ``out_path``."""
    table, trimmed = enforce_cap(
        table, capped_splits=cfg.capped_splits, max_images=cfg.max_images, trim=cfg.trim
    )
    rows = destinations(table, str(out_path), splits=cfg.splits)
    # A fresh export: stale files from an earlier export must not mix in.
    for s in cfg.splits:
        storage.rmtree(out_path / s)
    out_path.mkdir(parents=True, exist_ok=True)
    total_bytes = copy([{k: r[k] for k in ("id", "uri", "dest")} for r in rows]) if rows else 0
    manifest.write(table, out_path / "manifest.parquet")
    metrics = {
        "out": str(out_path),
        "exported": len(rows),
        "per_split": dict(Counter(r["split"] for r in rows)),
        "trimmed": trimmed,
        "bytes": int(total_bytes),
        "max_images": cfg.max_images,
    }
    (out_path / "export.json").write_text(json.dumps(metrics, indent=2))
    return StageOutput(table, metrics)
