"""The augment stage's body, without Ray: aspect squares, then the planned new images, rows appended.

Reads a manifest, plans the new images (``plan``), derives them with ``derive.derive_batch`` mapped over
the tasks by a ``map_tasks`` passed in (``pipeline.ray_map``: Ray Data; :func:`local_map`: this process),
and appends one row per accepted image (``origin`` and ``parent`` set).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dcai import manifest
from dcai.augment import derive, geometry, plan, policies, validity
from dcai.augment.config import AugmentConfig
from dcai.config import ConfigError
from dcai.runs import Run, StageContext, StageOutput

# map_tasks(tasks, fn) -> fn over every task (dicts of derive.derive_batch's columns), derive.OUT_SCHEMA rows
MapTasks = Callable[[list[dict], Callable[[pa.Table], pa.Table]], pa.Table]


def local_map(tasks: list[dict], fn: Callable[[pa.Table], pa.Table]) -> pa.Table:
    """``fn`` over all the tasks at once, in this process."""
    if not tasks:
        return derive.OUT_SCHEMA.empty_table()
    return fn(pa.Table.from_pylist(tasks)).cast(derive.OUT_SCHEMA)


def parents_of(table: pa.Table, cfg: AugmentConfig) -> np.ndarray:
    """Mask of the rows new images may be derived from: active rows of ``from_splits``."""
    split = manifest.column(table, "split")
    origin = manifest.column(table, "origin")
    mask = np.isin(split, cfg.from_splits) & ~np.isin(split, manifest.INACTIVE_SPLITS)
    if not cfg.from_derived:
        mask &= np.isin(origin, [manifest.ORIGINAL, "aspect"])
    return mask


def _tally(rows: pa.Table, status: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    keep = rows.filter(pc.equal(rows.column("status"), status))
    for (s, c), n in Counter(
        zip(keep.column("source").to_pylist(), keep.column("label").to_pylist())
    ).items():
        out.setdefault(s, {})[c] = n
    return out


def _standardise_aspect(
    table: pa.Table, cfg: AugmentConfig, fn, map_tasks: MapTasks
) -> tuple[pa.Table, pa.Table]:
    """Replace each too-long parent by a square around its ink: ``(manifest with the parents moved to
    removed, rows of the squares)``. The squares then stand in for their parents as parents."""
    long = parents_of(table, cfg) & geometry.needs_square(
        table.column("height").fill_null(1).to_numpy(zero_copy_only=False),
        table.column("width").fill_null(1).to_numpy(zero_copy_only=False),
        max_ratio=cfg.aspect_max_ratio,
    )
    cols = {c: manifest.column(table, c)[long] for c in ("id", "uri", "label", "split")}
    tasks = [
        {
            "parent": i,
            "read_uri": u,
            "label": lab,
            "split": sp,
            "source": "aspect",
            "op": "",
            "out_label": lab,
            "copies": 1,
            "seed": 0,
        }
        for i, u, lab, sp in zip(cols["id"], cols["uri"], cols["label"], cols["split"])
    ]
    squares = map_tasks(tasks, fn)
    if squares.num_rows:
        reason = f"augment: aspect ratio > {cfg.aspect_max_ratio:g}, replaced by a square crop"
        table = manifest.set_split(
            table, squares.column("parent").to_pylist(), manifest.REMOVED, reason=reason
        )
    return table, squares


def augment_table(
    table: pa.Table,
    cfg: AugmentConfig,
    ctx: StageContext,
    *,
    classify: validity.Classify | None,
    classes: Sequence[str],
    map_tasks: MapTasks | None = None,
) -> StageOutput:
    """The stage body: returns the manifest with new rows appended, and the report metrics.
    ``map_tasks(tasks, fn)`` runs ``fn`` (``derive.derive_batch``) over the planned tasks (the pipeline: a
    Ray Data map); by default :func:`local_map`, here."""
    map_tasks = map_tasks or local_map
    validity.require(classify, cfg.needs_classifier())
    if cfg.count("heavy"):
        policies.require_heavy()  # fail before any work, not inside a Ray task
    kwargs = dict(
        cfg=cfg,
        images_dir=str(ctx.images_dir),
        final_images_dir=ctx.final_path(ctx.images_dir),
        classify=classify,
        classes=list(classes),
    )
    fn = partial(derive.derive_batch, **kwargs)
    metrics: dict = {"classes": list(classes), "parents": int(parents_of(table, cfg).sum())}
    aspect_rows = derive.OUT_SCHEMA.empty_table()
    if cfg.aspect:
        table, aspect_rows = _standardise_aspect(table, cfg, fn, map_tasks)
        metrics["aspect_replaced"] = aspect_rows.num_rows
    # New images from the parents, aspect squares standing in for the parents they replaced.
    base = table.filter(pa.array(parents_of(table, cfg)))
    par = {
        "id": list(manifest.column(base, "id")) + aspect_rows.column("id").to_pylist(),
        "read_uri": list(manifest.column(base, "uri")) + aspect_rows.column("read_uri").to_pylist(),
        "label": list(manifest.column(base, "label")) + aspect_rows.column("label").to_pylist(),
        "split": list(manifest.column(base, "split")) + aspect_rows.column("split").to_pylist(),
        # embed's edge cases (an aspect square is its parent's stand-in, not looked up: never one)
        "isolated": np.array(
            [
                v is True
                for v in (
                    base.column("embed_isolated").to_pylist()
                    if "embed_isolated" in base.column_names
                    else [None] * base.num_rows
                )
            ]
            + [False] * aspect_rows.num_rows,
            bool,
        ),  # fmt: skip
    }
    tasks, planned = plan.plan(par, cfg, classes=classes)
    rows = map_tasks(tasks, fn)
    if cfg.target_per_class:  # what the validity check turned away, made up by the unbounded sources
        lost = Counter(
            rows.filter(pc.not_equal(rows.column("status"), derive.ACCEPTED)).column("label").to_pylist()
        )
        more = plan.refill(par, cfg, classes=classes, lost=dict(lost))
        if more:
            rows = pa.concat_tables([rows, map_tasks(more, fn)])
            refilled: Counter[str] = Counter()
            for t in more:
                refilled[t["out_label"]] += t["copies"]
            metrics["refilled"] = dict(refilled)
    everything = pa.concat_tables([aspect_rows, rows])
    accepted = everything.filter(pc.equal(everything.column("status"), derive.ACCEPTED))
    existing = pc.is_in(accepted.column("id"), table.column("id"))
    metrics["already_present"] = int(pc.sum(existing).as_py() or 0)  # the same image from an earlier augment
    accepted = accepted.filter(pc.invert(existing))
    new = manifest.conform(accepted.drop_columns(["read_uri", "source", "status"]))
    out = manifest.append(table, new)
    metrics.update(
        planned,
        added=_tally(accepted, derive.ACCEPTED),
        rejected=_tally(rows, derive.REJECTED),
        failed=_tally(rows, derive.FAILED),
        added_total=new.num_rows,
        rejected_examples=rows.filter(pc.not_equal(rows.column("status"), derive.ACCEPTED))
        .column("reason")
        .to_pylist()[:20],
    )
    return StageOutput(out, metrics)


def apply_tuned(run_dir: str, cfg: AugmentConfig) -> tuple[AugmentConfig, dict | None]:
    """With ``cfg.tuned``: ``cfg`` with the run's latest tune ``best`` applied, and what was applied.

    Dict fields merge (tune sets ``sources`` heavy / autoaugment / mirror and keeps this config's crop
    and compose counts); other fields are replaced.
    """
    if not cfg.tuned:
        return cfg, None
    run_obj = Run(run_dir)
    stage = run_obj.stage_dir("tune")
    best = run_obj.report("tune").get("best")
    if stage is None or not isinstance(best, dict):
        raise ConfigError(
            f"{run_obj.root}: augment has tuned=true but the run has no tune stage with a 'best' policy; "
            f"run `dcai tune --run {run_dir}` first or set tuned=false"
        )
    tuned_from = {"stage": stage.name, "overrides": best}
    merged = {}
    for k, v in best.items():
        current = getattr(cfg, k, None)
        merged[k] = {**current, **v} if isinstance(v, dict) and isinstance(current, dict) else v
    return cfg.replace(**merged), tuned_from
