"""Ray wiring of ingest: scan → the body (:mod:`dcai.ingest.ingest`) with ``validate_batch`` mapped by Ray
Data → manifest in ``NN-ingest/``."""

from __future__ import annotations

from functools import partial

import pyarrow as pa

from dcai.ingest import scan as scan_mod
from dcai.ingest.config import IngestConfig
from dcai.ingest.ingest import check_classes, ingest, source_key
from dcai.runs import Run, StageContext, StageOutput

STAGE = "ingest"


def ray_validate(records: list[dict], fn, *, cfg: IngestConfig) -> list[pa.Table]:
    """``fn`` over the records as a Ray Data map (batches of ``cfg.batch_size``)."""
    import ray

    from dcai.ray_runtime import collect, init_ray

    init_ray()
    ds = ray.data.from_items(records, override_num_blocks=max(1, min(200, len(records) // cfg.batch_size)))
    out = ds.map_batches(fn, batch_format="pyarrow", batch_size=cfg.batch_size)
    return collect(out, label="ingest", total=len(records))


def run(run_dir: str, cfg: IngestConfig, *, source: str, force: bool = False) -> tuple[dict, bool]:
    """Ingest ``source`` (class folders, or a CSV / Parquet list) into ``run_dir``. Returns ``(report, ran)``."""
    records, layout = scan_mod.scan(source)
    check_classes(records, cfg.classes, str(source))

    def stage(_: pa.Table | None, ctx: StageContext) -> StageOutput:
        return ingest(records, layout, cfg, ctx, validate=partial(ray_validate, cfg=cfg))

    _, report, ran = Run(run_dir).execute(
        STAGE, stage, config=cfg.to_dict(), extra_key=source_key(records), force=force, needs_input=False
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
