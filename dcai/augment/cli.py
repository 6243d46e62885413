"""``dcai augment --run RUN``: parse, load :class:`AugmentConfig`, run the stage, print what was added."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--classifier",
        default=None,
        metavar="MODULE:FACTORY",
        help="builds the classifier that checks crops and compositions (config key 'classifier')",
    )


def summary(report: dict) -> str:
    lines = [
        f"added {report.get('added_total', 0)} image(s); aspect squares: {report.get('aspect_replaced', 0)}"
    ]
    for kind in ("added", "rejected", "failed", "short"):
        for source, per_class in sorted((report.get(kind) or {}).items()):
            row = ", ".join(f"{c}={n}" for c, n in sorted(per_class.items()))
            lines.append(f"  {kind:<8} {source:<11} {row}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> dict:
    from dcai.augment.config import AugmentConfig
    from dcai.augment.pipeline import run
    from dcai.cli import stage_config

    cfg = stage_config(AugmentConfig, args, "augment", classifier=args.classifier)
    report, ran = run(args.run, cfg, force=args.force)
    print(summary(report))
    if not ran:
        print("(up to date: nothing changed since the last augment; --force reruns it)")
    return report
