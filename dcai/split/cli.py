"""``dcai split --run RUN``: random test selection, then stratified group-aware folds; one fold is val."""

from __future__ import annotations

import argparse

from dcai.split.config import SplitConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folds", type=int, default=None, help="number of folds (default 8)")
    parser.add_argument("--val-fold", type=int, default=None, help="the fold that becomes val (default 0)")
    parser.add_argument(
        "--test-fraction", type=float, default=None, help="share of families drawn into test (default 0)"
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"n_folds": args.folds, "val_fold": args.val_fold, "test_fraction": args.test_fraction}, {})


def summary(report: dict) -> str:
    counts = report["counts"]
    line = (
        f"{report['families']} families in {report['n_folds']} folds (fold {report['val_fold']} is val): "
        + ", ".join(f"{s}={sum(counts.get(s, {}).values())}" for s in ("train", "val", "test"))
    )
    if report["pulled_to_test"]:
        line += f"\n  {report['pulled_to_test']} row(s) moved to test: same family or duplicate group as a test image"
    return line


STAGE = Stage(
    name="split",
    help="random test selection and group-aware folds",
    config=SplitConfig,
    run=lazy("dcai.split.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.split.report_section:render_section"),
)
