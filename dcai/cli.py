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

from dcai.config import ConfigError, StageConfig, load
from dcai.errors import InputError, user_error
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


NO_RAY = ("report", "review")  # verbs that start no Ray: no "ray: ..." first line


def _common(p: argparse.ArgumentParser, *, run: bool = True) -> None:
    if run:
        p.add_argument("--run", required=True, help="run directory (runs/<name>)")
    p.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML config: this stage's options, or a pipeline config (its section)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one option (repeatable); an unknown key or a value of the wrong type is an error naming it",
    )
    p.add_argument(
        "--preset",
        help="named preset: tiny runs on a laptop CPU in seconds. Precedence, lowest first: "
        "defaults, --config, --preset, this verb's own flags, --set",
    )
    p.add_argument("--force", action="store_true", help="rerun even if the output is up to date")
    if run:
        p.add_argument(
            "--wait",
            action="store_true",
            help="if another command is writing the run, wait for it instead of stopping",
        )
    p.add_argument("--json", action="store_true", help="print the stage's report.json as the last line")


def config_from_args(cls: type[C], args: argparse.Namespace, section: str, **overrides: Any) -> C:
    """Load ``cls`` from ``--config`` (its ``section`` if the file is a pipeline config), preset and ``--set``;
    ``overrides`` (the verb's own flags; None = not given) sit between the file and ``--set``."""
    base = None
    if args.config:
        from dcai.config import load_yaml

        data = load_yaml(args.config)
        # a pipeline config (``stages:``) or a file of sections gives this stage's section; else the
        # whole file is this stage's config
        base = data.get(section) or {} if "stages" in data or section in data else data
        if not isinstance(base, dict):
            raise ConfigError(
                f"{args.config}: section {section!r} must be a mapping of options, got {base!r}"
            )
    try:
        return load(
            cls,
            sets=args.set,
            base=base,
            preset=args.preset,
            overrides={k: v for k, v in overrides.items() if v is not None},
        )
    except ConfigError as e:
        raise ConfigError(f"{args.config}: {e}" if args.config else str(e)) from None


def run_stage(stage: Stage, args: argparse.Namespace) -> dict:
    """``dcai <stage> ...``: its flags → config and inputs, run it, print its summary."""
    if stage.shortcut is not None:
        answer = stage.shortcut(args)
        if answer is not None:
            return answer
    call = stage.from_args(args)
    cfg = config_from_args(stage.config, args, stage.name, **call.overrides)
    from contextlib import nullcontext

    from dcai.runs import Run

    lock = Run(args.run).writing(wait=getattr(args, "wait", False)) if args.run else nullcontext()
    with lock:  # one writer per run, for the whole command
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
        wait=args.wait,
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
    p.add_argument("--run", required=True, help="run directory (runs/<name>) to describe")
    p.add_argument("--json", action="store_true", help="print the report's path as JSON on the last line")
    handlers["report"] = cmd_report

    p = sub.add_parser(
        "pipeline",
        help="run a configured sequence of stages end to end, resumably",
        description="Run the stages CONFIG.yaml lists, in order; rerun after a kill to resume after the last "
        "complete stage. Config precedence, lowest first: stage defaults, the file's section, --preset, "
        "--set. Every path and the whole config are checked before the first stage runs.",
    )
    p.add_argument(
        "config_file",
        metavar="CONFIG.yaml",
        help="a pipeline config: a path, or a shipped one (demo.yaml, "
        "competition.yaml, competition-gpu.yaml)",
    )
    p.add_argument(
        "--input",
        required=True,
        help="the data: ROOT/<split>/<class>/*, ROOT/<class>/* or a CSV/Parquet list",
    )
    p.add_argument(
        "--output",
        required=True,
        help="where the exported dataset goes: a new or empty folder, or an earlier "
        "export; never inside the input",
    )
    p.add_argument("--run", default=None, help="run directory (default: OUTPUT/run)")
    p.add_argument(
        "--test",
        default=None,
        metavar="DIR",
        help="class-folder test set that evaluate stages score (checked before the first stage)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STAGE.KEY=VALUE",
        help="set one option of one stage (repeatable), over the file and the preset",
    )
    p.add_argument(
        "--preset", default=None, help="tiny: every stage at laptop size, whatever the file's sections say"
    )
    p.add_argument("--force", action="store_true", help="rerun every stage even if its output is up to date")
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another command is writing the run, wait for it instead of stopping",
    )
    p.add_argument(
        "--ablate",
        action="store_true",
        help="also run the pipeline once without each data stage and report what each one added "
        "(OUTPUT/ablation.json, the run's report.html)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
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
    if args.verb not in NO_RAY:
        from dcai.ray_runtime import which_ray

        print(which_ray(), flush=True)
    try:
        report = handlers[args.verb](args)
    except USER_ERRORS as e:
        print(f"dcai {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        message = user_error(e)  # a full disk, a read-only folder (also inside a Ray task); else a bug
        if message is None:
            raise
        print(f"dcai {args.verb}: error: {message}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
