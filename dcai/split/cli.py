"""``dcai split --run RUN``: random test selection, then stratified group-aware folds; one fold is val."""

from __future__ import annotations

import argparse

NEEDS_RUN = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folds", type=int, default=None, help="number of folds (default 8)")
    parser.add_argument("--val-fold", type=int, default=None, help="the fold that becomes val (default 0)")
    parser.add_argument(
        "--test-fraction", type=float, default=None, help="share of families drawn into test (default 0)"
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.split.config import SplitConfig
    from dcai.split.pipeline import run

    cfg = stage_config(
        SplitConfig,
        args,
        "split",
        n_folds=args.folds,
        val_fold=args.val_fold,
        test_fraction=args.test_fraction,
    )
    report, ran = run(args.run, cfg, force=args.force)
    counts = report["counts"]
    print(
        f"{report['families']} families in {report['n_folds']} folds (fold {report['val_fold']} is val): "
        + ", ".join(f"{s}={sum(counts.get(s, {}).values())}" for s in ("train", "val", "test"))
    )
    if report["pulled_to_test"]:
        print(
            f"  {report['pulled_to_test']} row(s) moved to test: same family or duplicate group as a test image"
        )
    if not ran:
        print("(up to date: nothing changed since the last split; --force reruns it)")
    return report
