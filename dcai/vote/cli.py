"""``dcai vote --run RUN``: five-model out-of-fold vote (members × folds fanned out); noisy and ambiguous flags."""

from __future__ import annotations

import argparse

from dcai.stage import Call, Stage, lazy
from dcai.vote.config import VoteConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", help="comma-separated subset of resnet34,alexnet,lenet5,allconv,vgg16")


def from_args(args: argparse.Namespace) -> Call:
    members = tuple(m.strip() for m in args.members.split(",")) if args.members else None
    return Call({"members": members}, {})


def summary(report: dict) -> str:
    accs = ", ".join(f"{m} {a:.3f}" for m, a in report.get("member_oof_accuracy", {}).items())
    per_round = report.get("rounds", [])
    rounds = (
        "; rounds (trained on, noisy): " + ", ".join(f"{x['trained_on']} → {x['noisy']}" for x in per_round)
        if len(per_round) > 1
        else ""
    )
    return (
        f"vote on {report['rows_voted']} images: out-of-fold accuracy {accs}; ensemble "
        f"{report['ensemble_oof_accuracy']:.3f}; noisy {report['noisy']}, ambiguous {report['ambiguous']} "
        f"({report['fan_out_seconds']:.0f} s for {len(report['trials'])} trials){rounds}"
    )


STAGE = Stage(
    name="vote",
    help="five-model out-of-fold vote: noisy and ambiguous flags",
    config=VoteConfig,
    run=lazy("dcai.vote.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.vote.report_section:render_section"),
)
