"""``dcai ingest SOURCE --run RUN``: scan class folders or a CSV/Parquet list, validate every image."""

from __future__ import annotations

import argparse

from dcai.ingest.config import IngestConfig
from dcai.stage import Call, PipelineContext, Stage, lazy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", help="ROOT/<split>/<class>/*, ROOT/<class>/*, or a .csv/.parquet list (uri,label[,split])"
    )
    p.add_argument("--classes", help="comma-separated class names; other label folders are an error")


def from_args(args: argparse.Namespace) -> Call:
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    return Call({"classes": classes}, {"source": args.source})


def from_pipeline(ctx: PipelineContext, section: dict) -> Call:
    return Call(dict(section), {"source": ctx.input_dir})


STAGE = Stage(
    name="ingest",
    help="scan class folders or a CSV/Parquet list; validate every image",
    config=IngestConfig,
    run=lazy("dcai.ingest.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=from_pipeline,
    summary=lazy("dcai.ingest.pipeline:summary_table"),
)
