"""Ray wiring of export: enforce the cap, copy files into class folders with Ray Data, write the manifest."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa

from dcai import imaging, manifest
from dcai.export.config import ExportConfig
from dcai.export.plan import destinations, enforce_cap
from dcai.runs import Run, StageContext, StageOutput

STAGE = "export"


def copy_batch(batch: pa.Table) -> pa.Table:
    """``map_batches`` body: copy each ``uri`` to ``dest`` (any pyarrow.fs source), report bytes."""
    sizes = []
    for uri, dest in zip(batch.column("uri").to_pylist(), batch.column("dest").to_pylist()):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        data = imaging.read_bytes(uri)
        with open(dest, "wb") as f:
            f.write(data)
        sizes.append(len(data))
    return pa.table({"id": batch.column("id"), "bytes": pa.array(sizes, pa.int64())})


def run(run_dir: str, cfg: ExportConfig, *, out: str, force: bool = False) -> tuple[dict, bool]:
    """Export the run's latest manifest to ``out`` (class folders + manifest). Returns ``(report, ran)``."""
    import ray

    from dcai.ray_runtime import init_ray

    out_path = Path(out).resolve()

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        table, trimmed = enforce_cap(
            table, capped_splits=cfg.capped_splits, max_images=cfg.max_images, trim=cfg.trim
        )
        rows = destinations(table, str(out_path), splits=cfg.splits)
        # A fresh export: stale files from an earlier export must not mix in.
        for s in cfg.splits:
            shutil.rmtree(out_path / s, ignore_errors=True)
        out_path.mkdir(parents=True, exist_ok=True)
        total_bytes = 0
        if rows:
            init_ray()
            ds = ray.data.from_items(
                [{k: r[k] for k in ("id", "uri", "dest")} for r in rows],
                override_num_blocks=max(1, min(64, len(rows) // cfg.batch_size)),
            )
            copied = ds.map_batches(copy_batch, batch_format="pyarrow", batch_size=cfg.batch_size)
            total_bytes = sum(t.column("bytes").to_numpy().sum() for t in ray.get(copied.to_arrow_refs()))
        manifest.write(table, out_path / "manifest.parquet")
        per_split = dict(Counter(r["split"] for r in rows))
        metrics = {
            "out": str(out_path),
            "exported": len(rows),
            "per_split": per_split,
            "trimmed": trimmed,
            "bytes": int(total_bytes),
            "max_images": cfg.max_images,
        }
        (out_path / "export.json").write_text(json.dumps(metrics, indent=2))
        return StageOutput(table, metrics)

    _, report, ran = Run(run_dir).execute(
        STAGE, stage, config=cfg.to_dict(), extra_key=str(out_path), force=force
    )
    return report, ran
