"""``dcai gan --run RUN``: the paper's conditional GAN adds hard examples (γ, δ searched with ``tuned``)."""

from __future__ import annotations

import argparse

from dcai.gan.config import GanConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("ray", "local"),
        default=None,
        help="ray: Ray Train for the GAN, Ray Tune for the search; local: this process, no Ray",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"backend": args.backend}, {})


def summary(report: dict) -> str:
    s = report.get("settings") or {}
    lines = [
        f"γ {s.get('gamma_max')}, δ {s.get('delta')}, {s.get('iterations')} iterations; "
        f"classifier val acc {report.get('classifier_val_acc')}"
    ]
    found = report.get("search")
    if found:
        lines.append(
            f"search: winner trial {found['best_trial']} {found['best_params']} gain {found['best_gain']}"
        )
    if report.get("skipped"):
        lines.append(f"added none: {report['skipped']}")
    else:
        lines.append(
            f"added {report.get('added_total')} of {report.get('drawn')} drawn; validity rejected "
            f"{report.get('validity_rejection_rate')}, duplicates {report.get('duplicate_rate')}; "
            f"fixed model right on {report.get('fixed_acc_kept')} of the kept"
        )
    return "\n".join(lines)


STAGE = Stage(
    name="gan",
    help="the paper's conditional GAN: hard examples the fixed model gets wrong",
    config=GanConfig,
    run=lazy("dcai.gan.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.gan.report_section:render_section"),
)
