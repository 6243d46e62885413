"""Ray wiring of augment: the body (:mod:`dcai.augment.augment`) with its derivations mapped by Ray Data.

Reads the latest manifest of a run, appends one row per accepted new image (``origin`` and ``parent``
set) and writes ``NN-augment/`` with the PNGs and a report of what was added and rejected per class.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial

import pyarrow as pa

from dcai import manifest
from dcai.augment import derive, validity
from dcai.augment.augment import apply_tuned, augment_table
from dcai.augment.config import AugmentConfig
from dcai.runs import Run, StageContext, StageOutput

STAGE = "augment"


def ray_map(tasks: list[dict], fn, *, cfg: AugmentConfig) -> pa.Table:
    """Run ``fn`` over the tasks with Ray Data; an empty table of the output schema when there are none."""
    import ray

    from dcai.ray_runtime import collect, init_ray

    if not tasks:
        return derive.OUT_SCHEMA.empty_table()
    init_ray()
    ds = ray.data.from_items(tasks, override_num_blocks=max(1, min(200, len(tasks) // cfg.batch_size)))
    out = ds.map_batches(fn, batch_format="pyarrow", batch_size=cfg.batch_size)
    expected = sum(max(1, int(t.get("copies") or 1)) for t in tasks)  # an unbounded source makes copies each
    parts = [t for t in collect(out, label="augment", total=expected) if t.num_rows]
    return (
        pa.concat_tables([t.cast(derive.OUT_SCHEMA) for t in parts])
        if parts
        else derive.OUT_SCHEMA.empty_table()
    )


def run(
    run_dir: str,
    cfg: AugmentConfig,
    *,
    classify: validity.Classify | None = None,
    classes: Sequence[str] | None = None,
    classify_key: str | None = None,
    force: bool = False,
) -> tuple[dict, bool]:
    """Augment the run's latest manifest. Returns ``(report, ran)``.

    ``classify`` checks crops and compositions (see :mod:`dcai.augment.validity` for the contract);
    ``classes`` names its output columns (default: the run's active classes, sorted). Without
    ``classify``, ``cfg.classifier`` ("module:factory") builds one from the manifest. ``classify_key``
    identifies the classifier so an unchanged stage is skipped; without it a run with one always reruns.
    """
    run_obj = Run(run_dir)
    cfg, tuned_from = apply_tuned(run_dir, cfg)

    def stage(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        names = list(classes) if classes is not None else manifest.classes(table)
        fn = classify
        if fn is None and cfg.classifier and cfg.needs_classifier():
            fn = validity.load_factory(cfg.classifier)(table, classes=names)
        out = augment_table(table, cfg, ctx, classify=fn, classes=names, map_tasks=partial(ray_map, cfg=cfg))
        if tuned_from is not None:
            out.metrics["tuned_from"] = tuned_from
        return out

    key: object = classify_key if classify is None or classify_key else f"unkeyed classifier {uuid.uuid4()}"
    if tuned_from is not None:
        key = {"classifier": key, "tuned_from": tuned_from}
    _, report, ran = run_obj.execute(STAGE, stage, config=cfg.to_dict(), extra_key=key, force=force)
    return report, ran
