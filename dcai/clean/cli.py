"""``dcai clean --run RUN [--auto]``: parse, load :class:`CleanConfig`, run the stage, print the actions."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto",
        action="store_true",
        help="apply strong relabels and junk removals; queue the rest (default: queue everything)",
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.clean.config import CleanConfig
    from dcai.clean.pipeline import run, summary
    from dcai.cli import stage_config

    cfg = stage_config(CleanConfig, args, "clean", auto=True if args.auto else None)
    report, ran = run(args.run, cfg, force=args.force)
    print(summary(report) + ("" if ran else " (up to date; --force reruns it)"))
    return report
