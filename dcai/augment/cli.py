"""``dcai augment --run RUN``: new images (affine copies, elastic, recomposition, crops, mirrors, AutoAugment, heavy)."""

from __future__ import annotations

import argparse

from dcai.augment.config import AugmentConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--classifier",
        default=None,
        metavar="MODULE:FACTORY",
        help="builds the classifier that checks crops and compositions (config key 'classifier')",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"classifier": args.classifier}, {})


def summary(report: dict) -> str:
    lines = [
        f"added {report.get('added_total', 0)} image(s); aspect squares: {report.get('aspect_replaced', 0)}"
    ]
    for kind in ("added", "rejected", "failed", "short"):
        for source, per_class in sorted((report.get(kind) or {}).items()):
            row = ", ".join(f"{c}={n}" for c, n in sorted(per_class.items()))
            lines.append(f"  {kind:<8} {source:<11} {row}")
    if report.get("refilled"):  # made up by the unbounded sources for what the first round lost
        row = ", ".join(f"{c}={n}" for c, n in sorted(report["refilled"].items()))
        lines.append(f"  refilled (by the unbounded sources, counted in added) {row}")
    return "\n".join(lines)


STAGE = Stage(
    name="augment",
    help="new images: affine copies (default), elastic, recomposition, crops, mirrors, AutoAugment, heavy",
    config=AugmentConfig,
    run=lazy("dcai.augment.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.augment.report_section:render_section"),
)
