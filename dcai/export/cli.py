"""``dcai export --run RUN --out DIR``: class folders ``train/<label>/``, ``val/<label>/`` under the size cap."""

from __future__ import annotations

import argparse

from dcai.export.config import ExportConfig
from dcai.stage import Call, PipelineContext, Stage, lazy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="a new or empty folder, or an earlier export of dcai's (only its files are replaced); never "
        "a folder that holds the run's images",
    )
    p.add_argument("--max-images", type=int, default=None, help="cap on train+val images (default 10000)")
    p.add_argument("--trim", action="store_true", help="trim to the cap (balanced) instead of failing")


def from_args(args: argparse.Namespace) -> Call:
    return Call({"max_images": args.max_images, "trim": args.trim or None}, {"out": args.out})


def from_pipeline(ctx: PipelineContext, section: dict) -> Call:
    return Call(dict(section), {"out": ctx.output_dir})


def summary(report: dict) -> str:
    lines = [f"exported {report['exported']} images to {report['out']} ({report['per_split']})"]
    lines += [f"WARNING: export: {w}" for w in report.get("warnings") or []]
    return "\n".join(lines)


STAGE = Stage(
    name="export",
    help="write train/<label>/, val/<label>/ folders and the manifest",
    config=ExportConfig,
    run=lazy("dcai.export.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=from_pipeline,
    summary=summary,
)
