"""``dcai evaluate (--run RUN_DIR | --data DIR) [--test DIR] [--seeds N] [--epochs N]``."""

from __future__ import annotations

import argparse

from dcai.errors import InputError
from dcai.evaluate.config import BACKENDS, EvaluateConfig

# --run is optional here (evaluate also takes --data), so the CLI must not add a required one.
NEEDS_RUN = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run", help="run directory: train on its newest manifest's train/val, record NN-evaluate"
    )
    p.add_argument(
        "--data", help="DIR/train/<class>/* and DIR/val/<class>/* (e.g. an export) instead of a run"
    )
    p.add_argument("--test", help="a class-folder test set DIR/<class>/* (the label book, a held-out set)")
    p.add_argument("--seeds", type=int, default=None, help="models trained, one per seed (default 3)")
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs per model (default 100, the official recipe)"
    )
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="local (this process, default), train (Ray TorchTrainer) or tune (Ray Tune trials)",
    )


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.evaluate.core import format_summary
    from dcai.evaluate.pipeline import run

    if not args.run and not args.data:
        raise InputError("dcai evaluate needs --run RUN_DIR or --data DIR")
    cfg = stage_config(
        EvaluateConfig,
        args,
        "evaluate",
        seeds=args.seeds,
        epochs=args.epochs,
        device=args.device,
        backend=args.backend,
    )
    report, ran = run(args.run, cfg, data_dir=args.data, test_dir=args.test, force=args.force)
    print(format_summary(report))
    if not ran:
        print("(up to date: same data and config as the last evaluation; --force reruns it)")
    return report
