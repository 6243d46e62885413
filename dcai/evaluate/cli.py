"""``dcai evaluate (--run RUN_DIR | --data DIR) [--test DIR] [--seeds N] [--epochs N]``, and ``evaluate_raw``,
the same fixed model on the data as ingested (a pipeline step: the baseline later stages are compared with)."""

from __future__ import annotations

import argparse

from dcai.errors import InputError
from dcai.evaluate.config import BACKENDS, EvaluateConfig
from dcai.stage import Call, PipelineContext, Stage, lazy


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


def from_args(args: argparse.Namespace) -> Call:
    if not args.run and not args.data:
        raise InputError("dcai evaluate needs --run RUN_DIR or --data DIR")
    overrides = {"seeds": args.seeds, "epochs": args.epochs, "device": args.device, "backend": args.backend}
    return Call(overrides, {"data_dir": args.data, "test_dir": args.test})


def from_pipeline(ctx: PipelineContext, section: dict) -> Call:
    """The run's newest manifest (what export writes)."""
    return Call(dict(section), {"test_dir": ctx.test_dir})


def raw_from_pipeline(ctx: PipelineContext, section: dict) -> Call:
    """The data as ingested, recorded as ``NN-evaluate_raw``."""
    return Call(
        dict(section), {"test_dir": ctx.test_dir, "stage": "evaluate_raw", "manifest_stage": "ingest"}
    )


STAGE = Stage(
    name="evaluate",
    help="train the fixed model on a run or folders; val/test accuracy over seeds",
    config=EvaluateConfig,
    run=lazy("dcai.evaluate.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=from_pipeline,
    summary=lazy("dcai.evaluate.core:format_summary"),
    section=lazy("dcai.evaluate.report_section:render_section"),
    needs_run=False,  # --run or --data: add_arguments declares --run itself
)

RAW_STAGE = Stage(
    name="evaluate_raw",
    help="the fixed model on the data as ingested",
    config=EvaluateConfig,
    run=lazy("dcai.evaluate.pipeline:run"),
    pipeline=raw_from_pipeline,
    summary=lazy("dcai.evaluate.core:format_summary"),
    section=lazy("dcai.evaluate.report_section:render_section"),
    verb=False,
)
