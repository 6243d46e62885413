"""The ``dcai`` command line: one verb per stage of :mod:`dcai.stages` (its flags, config, run, summary), plus
``synth``, ``report`` and ``pipeline``; each parses, loads the config and calls the stage.

Exit status: 0 on success, 2 on bad input (the message names the file and the problem).
``--json`` prints the stage's ``report.json`` as the last line of standard output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from dcai.config import StageConfig, load
from dcai.errors import InputError
from dcai.stage import Stage
from dcai.stages import STAGES

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


def config_from_args(cls: type[C], args: argparse.Namespace, section: str, **overrides: Any) -> C:
    """Load ``cls`` from ``--config`` (its ``section`` if the file is a pipeline config), preset and ``--set``;
    ``overrides`` (the verb's own flags; None = not given) sit between the file and ``--set``."""
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


def run_stage(stage: Stage, args: argparse.Namespace) -> dict:
    """``dcai <stage> ...``: its flags → config and inputs, run it, print its summary."""
    if stage.shortcut is not None:
        answer = stage.shortcut(args)
        if answer is not None:
            return answer
    call = stage.from_args(args)
    cfg = config_from_args(stage.config, args, stage.name, **call.overrides)
    report, ran = stage.run(args.run, cfg, force=args.force, **call.inputs)
    print(stage.summary(report))
    if not ran:
        print(f"(up to date: nothing changed since the last {stage.name}; --force reruns it)")
    return report


# ---- verbs that are no stage of a run -----------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> dict:
    from dcai.report.html import write_report

    path = write_report(args.run)
    print(f"report: {path}")
    return {"report": str(path)}


def cmd_pipeline(args: argparse.Namespace) -> dict:
    from dcai.ablate import ablate
    from dcai.pipeline import run_pipeline

    return (ablate if args.ablate else run_pipeline)(
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

    cfg = config_from_args(SynthConfig, args, "synth", n=args.n, seed=args.seed)
    report = run(args.out_dir, cfg)
    print(f"wrote {report['images']} images to {report['out']} (ground truth: {report['truth']})")
    return report


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

    for stage in STAGES:
        if not stage.verb:
            continue
        p = sub.add_parser(stage.name, help=stage.help)
        stage.arguments(p)
        _common(p, run=stage.needs_run)
        handlers[stage.name] = partial(run_stage, stage)

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
    p.add_argument(
        "--ablate",
        action="store_true",
        help="also run the pipeline once without each data stage and report what each one added "
        "(OUTPUT/ablation.json, the run's report.html)",
    )
    p.add_argument("--json", action="store_true")
    handlers["pipeline"] = cmd_pipeline
    return parser, handlers


def job(verb: str, argv: Sequence[str]) -> int:
    """A ``ray_jobs/`` entry point: the verb as ``dcai <verb> ARGV --json`` (the report is the log's last line)."""
    parser, handlers = build_parser()
    if verb not in handlers:
        print(f"dcai job: unknown verb {verb!r}; known: {sorted(handlers)}", file=sys.stderr)
        return 2
    return main([verb, *argv, "--json"])


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
