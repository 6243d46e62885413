"""``dcai vote --run RUN``: parse, load :class:`VoteConfig`, fan the members × folds out, print the flags."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", help="comma-separated subset of resnet34,alexnet,lenet5,allconv,vgg16")


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.vote.config import VoteConfig
    from dcai.vote.pipeline import run, summary

    members = tuple(m.strip() for m in args.members.split(",")) if args.members else None
    cfg = stage_config(VoteConfig, args, "vote", members=members)
    report, ran = run(args.run, cfg, force=args.force)
    print(summary(report) + ("" if ran else " (up to date; --force reruns it)"))
    return report
