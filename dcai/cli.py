"""The ``dcai`` command line: one verb per stage; each parses, loads the config and calls the stage.

Exit status: 0 on success, 2 on bad input (the message names the file and the problem).
``--json`` prints the stage's ``report.json`` as the last line of standard output.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from dcai.config import StageConfig, load
from dcai.errors import InputError

C = TypeVar("C", bound=StageConfig)

# Errors that mean "your input is wrong" (exit 2), not "dcai is broken".
USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
)


def _common(p: argparse.ArgumentParser, *, run: bool = True) -> None:
    if run:
        p.add_argument("--run", required=True, help="run directory (runs/<name>)")
    p.add_argument("--config", help="YAML config file for this stage")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--preset", help="named preset, e.g. tiny (runs on a laptop CPU in seconds)")
    p.add_argument("--force", action="store_true", help="rerun even if the output is up to date")
    p.add_argument("--json", action="store_true", help="print the stage's report.json as the last line")


def stage_config(cls: type[C], args: argparse.Namespace, section: str, **overrides: Any) -> C:
    """Load ``cls`` from ``--config`` (its ``section`` if the file is a pipeline config), preset and ``--set``."""
    section_in_file = None
    if args.config:
        from dcai.config import load_yaml

        data = load_yaml(args.config)
        section_in_file = section if section in data else None
    return load(
        cls,
        args.config,
        args.set,
        preset=args.preset,
        section=section_in_file,
        overrides={k: v for k, v in overrides.items() if v is not None},
    )


# ---- verbs --------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> dict:
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run, summary_table

    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else None
    cfg = stage_config(IngestConfig, args, "ingest", classes=classes)
    report, ran = run(args.run, cfg, source=args.source, force=args.force)
    print(summary_table(report))
    if not ran:
        print("(up to date: nothing changed since the last ingest; --force reruns it)")
    return report


def cmd_export(args: argparse.Namespace) -> dict:
    from dcai.export.config import ExportConfig
    from dcai.export.pipeline import run

    cfg = stage_config(ExportConfig, args, "export", max_images=args.max_images, trim=args.trim or None)
    report, _ = run(args.run, cfg, out=args.out, force=args.force)
    print(f"exported {report['exported']} images to {report['out']} ({report['per_split']})")
    return report


def cmd_report(args: argparse.Namespace) -> dict:
    from dcai.report.html import write_report

    path = write_report(args.run)
    print(f"report: {path}")
    return {"report": str(path)}


def cmd_pipeline(args: argparse.Namespace) -> dict:
    from dcai.pipeline import run_pipeline

    return run_pipeline(
        args.config_file,
        input_dir=args.input,
        output_dir=args.output,
        run_dir=args.run,
        sets=args.set,
        preset=args.preset,
        force=args.force,
        test_dir=args.test,
    )


def cmd_synth(args: argparse.Namespace) -> dict:
    from dcai.synth.config import SynthConfig
    from dcai.synth.pipeline import run

    cfg = stage_config(SynthConfig, args, "synth", n=args.n, seed=args.seed)
    report = run(args.out_dir, cfg)
    print(f"wrote {report['images']} images to {report['out']} (ground truth: {report['truth']})")
    return report


# Later stages register here: verb -> (module with add_arguments/main, help).
PLUGGED: dict[str, tuple[str, str]] = {
    "evaluate": (
        "dcai.evaluate.cli",
        "train the fixed model on a run or folders; val/test accuracy over seeds",
    ),
    "dedup": ("dcai.dedup.cli", "exact and near duplicates, groups, leakage across splits"),
    "investigate": (
        "dcai.investigate.cli",
        "auxiliary-model loop: certify, queue for review, suggest labels",
    ),
    "vote": ("dcai.vote.cli", "five-model out-of-fold vote: noisy and ambiguous flags"),
    "review": ("dcai.review.cli", "export / import the review queue as CSV"),
    "clean": ("dcai.clean.cli", "turn dedup / investigate / vote evidence into actions"),
    "augment": ("dcai.augment.cli", "new images: heavy aug, AutoAugment, crops, mirrors, recomposition"),
    "tune": ("dcai.tune.cli", "Ray Tune search over the augmentation policy"),
    "balance": ("dcai.balance.cli", "equal classes under the budget; the rest to surplus"),
    "split": ("dcai.split.cli", "random test selection and group-aware folds"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], dict]]]:
    parser = argparse.ArgumentParser(prog="dcai", description="Make an image dataset better, not the model.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    handlers: dict[str, Callable[[argparse.Namespace], dict]] = {}

    p = sub.add_parser("synth", help="draw the built-in Roman-numeral data with planted problems")
    p.add_argument("out_dir")
    p.add_argument(
        "--n", type=int, default=None, help="number of clean images before planting (default 3000)"
    )
    p.add_argument("--seed", type=int, default=None)
    _common(p, run=False)
    handlers["synth"] = cmd_synth

    p = sub.add_parser("ingest", help="scan class folders or a CSV/Parquet list; validate every image")
    p.add_argument(
        "source", help="ROOT/<split>/<class>/*, ROOT/<class>/*, or a .csv/.parquet list (uri,label[,split])"
    )
    p.add_argument("--classes", help="comma-separated class names; other label folders are an error")
    _common(p)
    handlers["ingest"] = cmd_ingest

    p = sub.add_parser("export", help="write train/<label>/, val/<label>/ folders and the manifest")
    p.add_argument("--out", required=True)
    p.add_argument("--max-images", type=int, default=None, help="cap on train+val images (default 10000)")
    p.add_argument("--trim", action="store_true", help="trim to the cap (balanced) instead of failing")
    _common(p)
    handlers["export"] = cmd_export

    p = sub.add_parser("report", help="write RUN_DIR/report.html")
    p.add_argument("--run", required=True)
    p.add_argument("--json", action="store_true")
    handlers["report"] = cmd_report

    p = sub.add_parser("pipeline", help="run a configured sequence of stages end to end, resumably")
    p.add_argument("config_file", metavar="CONFIG.yaml")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True, help="where the exported dataset goes")
    p.add_argument("--run", default=None, help="run directory (default: <output>/run)")
    p.add_argument("--test", default=None, metavar="DIR", help="class-folder test set for evaluate stages")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE")
    p.add_argument("--preset", default=None)
    p.add_argument("--force", action="store_true")
    p.add_argument("--json", action="store_true")
    handlers["pipeline"] = cmd_pipeline

    for verb, (module, help_text) in PLUGGED.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and (e.name == module or module.startswith(e.name + ".")):
                continue  # that stage is not part of this build
            raise
        p = sub.add_parser(verb, help=help_text)
        mod.add_arguments(p)
        _common(p, run=getattr(mod, "NEEDS_RUN", True))
        handlers[verb] = mod.main
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        report = handlers[args.verb](args)
    except USER_ERRORS as e:
        print(f"dcai {args.verb}: error: {e}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
