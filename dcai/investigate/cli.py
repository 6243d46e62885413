"""``dcai investigate --run RUN``: parse, load :class:`InvestigateConfig`, run the loop, print Table 1."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate-reviewer",
        metavar="TRUTH.csv",
        help="answer each round's queue from a truth file (dcai synth truth.csv or a reviewed sample)",
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.investigate.config import InvestigateConfig
    from dcai.investigate.pipeline import run, summary

    cfg = stage_config(InvestigateConfig, args, "investigate")
    report, ran = run(args.run, cfg, truth_csv=args.simulate_reviewer, force=args.force)
    print(summary(report) + ("" if ran else "\n(up to date; --force reruns it)"))
    return report
