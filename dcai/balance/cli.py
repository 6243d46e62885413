"""``dcai balance --run RUN``: equal classes under the budget; rows over a class's quota go to surplus."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, default=None, help="cap on train+val rows (default 10000)")
    parser.add_argument(
        "--mode", choices=("equal", "cap"), default=None, help="equal: all classes cut to the smallest"
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.balance.config import BalanceConfig
    from dcai.balance.pipeline import run
    from dcai.cli import stage_config

    cfg = stage_config(BalanceConfig, args, "balance", budget=args.budget, mode=args.mode)
    report, ran = run(args.run, cfg, force=args.force)
    print(
        f"kept {report['kept_total']} of budget {report['budget']} ({report['mode']}): "
        f"{report['to_surplus']} to surplus, {report['back_from_surplus']} back from surplus"
    )
    print("  per class: " + ", ".join(f"{c}={n}" for c, n in sorted(report["kept_per_class"].items())))
    if not ran:
        print("(up to date: nothing changed since the last balance; --force reruns it)")
    return report
