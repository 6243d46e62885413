"""``dcai investigate --run RUN``: the auxiliary-model loop; certify, queue for review, suggest labels."""

from __future__ import annotations

import argparse

from dcai.investigate.config import InvestigateConfig
from dcai.stage import Call, PipelineContext, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate-reviewer",
        metavar="TRUTH.csv",
        help="answer each round's queue from a truth file (dcai synth truth.csv or a reviewed sample)",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({}, {"truth_csv": args.simulate_reviewer})


def from_pipeline(ctx: PipelineContext, section: dict) -> Call:
    """A ``simulate_reviewer: TRUTH.csv`` key in the section answers the queue (it is no config field)."""
    section = dict(section)
    return Call(section, {"truth_csv": section.pop("simulate_reviewer", None)})


def summary(report: dict) -> str:
    lines = [
        f"{'round':>5} {'on':>7} {'train':>6} {'val':>5} {'val acc':>7} {'cert':>5} {'queued':>6} {'validated':>9}"
    ]
    for r in report.get("rounds", []):
        lines.append(
            f"{r['round']:>5} {r['trained_on']:>7} {r['train']:>6} {r['val']:>5} {r['val_acc']:>7.3f} "
            f"{r['certified']:>5} {r['queued']:>6} {r['validated_share']:>9.0%}"
        )
    lines.append(f"status: {report.get('status')}; {report.get('queued', 0)} in the review queue")
    return "\n".join(lines)


STAGE = Stage(
    name="investigate",
    help="auxiliary-model loop: certify, queue for review, suggest labels",
    config=InvestigateConfig,
    run=lazy("dcai.investigate.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=from_pipeline,
    summary=summary,
    section=lazy("dcai.investigate.report_section:render_section"),
)
