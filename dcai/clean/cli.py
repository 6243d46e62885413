"""``dcai clean --run RUN [--auto]``: turn dedup / investigate / vote evidence into actions."""

from __future__ import annotations

import argparse

from dcai.clean.config import CleanConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto",
        action="store_true",
        help="apply strong relabels and junk removals; queue the rest (default: queue everything)",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"auto": True if args.auto else None}, {})


def summary(report: dict) -> str:
    acts = ", ".join(f"{k} {v}" for k, v in sorted(report.get("actions", {}).items()))
    rules = ", ".join(f"{k} {v}" for k, v in sorted(report.get("rules", {}).items())) or "none"
    mode = "applied" if report.get("auto") else "proposed only (use --auto to apply)"
    return f"clean ({mode}): {acts}; rules: {rules}; {report.get('queued', 0)} queued for review"


STAGE = Stage(
    name="clean",
    help="turn dedup / investigate / vote evidence into actions",
    config=CleanConfig,
    run=lazy("dcai.clean.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.clean.report_section:render_section"),
)
