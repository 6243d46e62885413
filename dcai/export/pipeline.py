"""Ray wiring of export: the body (:mod:`dcai.export.export`) with the files copied by a Ray Data map."""

from __future__ import annotations

from functools import partial

import pyarrow as pa

from dcai import storage
from dcai.export.config import ExportConfig
from dcai.export.export import copy_batch, export
from dcai.runs import Run, StageContext, StageOutput

STAGE = "export"


def ray_copy(rows: list[dict], *, cfg: ExportConfig) -> int:
    """``copy_batch`` over the rows as a Ray Data map; the bytes copied."""
    import ray

    from dcai.ray_runtime import collect, init_ray

    init_ray()
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(64, len(rows) // cfg.batch_size)))
    copied = ds.map_batches(copy_batch, batch_format="pyarrow", batch_size=cfg.batch_size)
    return int(
        sum(t.column("bytes").to_numpy().sum() for t in collect(copied, label="export", total=len(rows)))
    )


def run(run_dir: str, cfg: ExportConfig, *, out: str, force: bool = False) -> tuple[dict, bool]:
    """Export the run's latest manifest to ``out`` (class folders + manifest). Returns ``(report, ran)``."""
    out_path = storage.path(out)  # a local folder or any pyarrow.fs URI

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        ingested = ctx.run.report("ingest")  # its source folder is an input export must stay out of
        inputs = (ingested["source"],) if ingested.get("layout") not in (None, "list") else ()
        return export(
            table, cfg, out_path, copy=partial(ray_copy, cfg=cfg), run_root=ctx.run.root, inputs=inputs
        )

    _, report, ran = Run(run_dir).execute(
        STAGE, stage, config=cfg.to_dict(), extra_key=str(out_path), force=force
    )
    return report, ran
