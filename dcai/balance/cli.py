"""``dcai balance --run RUN``: equal classes under the budget; rows over a class's quota go to surplus."""

from __future__ import annotations

import argparse

from dcai.balance.config import BalanceConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, default=None, help="cap on train+val rows (default 10000)")
    parser.add_argument(
        "--mode", choices=("equal", "cap"), default=None, help="equal: all classes cut to the smallest"
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"budget": args.budget, "mode": args.mode}, {})


def summary(report: dict) -> str:
    return (
        f"kept {report['kept_total']} of budget {report['budget']} ({report['mode']}): "
        f"{report['to_surplus']} to surplus, {report['back_from_surplus']} back from surplus\n"
        "  per class: " + ", ".join(f"{c}={n}" for c, n in sorted(report["kept_per_class"].items()))
    )


STAGE = Stage(
    name="balance",
    help="equal classes under the budget; the rest to surplus",
    config=BalanceConfig,
    run=lazy("dcai.balance.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.balance.report_section:render_section"),
)
