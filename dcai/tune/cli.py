"""``dcai tune --run RUN``: parse, load :class:`TuneConfig`, search the augmentation policy, print the trials."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("tune", "local"),
        default=None,
        help="tune: Ray Tune trials with ASHA; local: one after another in this process, no Ray",
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.tune.config import TuneConfig
    from dcai.tune.pipeline import run, summary

    cfg = stage_config(TuneConfig, args, "tune", backend=args.backend)
    report, ran = run(args.run, cfg, force=args.force)
    print(summary(report))
    if not ran:
        print("(up to date: nothing changed since the last tune; --force reruns it)")
    return report
