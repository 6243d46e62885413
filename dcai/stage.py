"""What a stage is to the rest of dcai: one :class:`Stage` record, declared once in the stage's own
``cli.py`` and listed in :mod:`dcai.stages`, which the CLI, ``dcai pipeline``, the HTML report and
``ray_jobs/`` read.

A stage's ``run(run_dir, cfg, *, force=False, **inputs) -> (report, ran)`` reads the run's newest
manifest and writes ``NN-<name>/``; ``inputs`` are what it needs besides the run and its config (an
ingest source, an export folder, an earlier run to dedup against), given by CLI flags or by the pipeline.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from dcai.config import StageConfig


class Call(NamedTuple):
    """One invocation of a stage: config ``overrides`` (above its YAML section and preset, below ``--set``)
    and the ``inputs`` its ``run`` takes by keyword."""

    overrides: dict[str, Any]
    inputs: dict[str, Any]


@dataclass(frozen=True)
class PipelineContext:
    """What ``dcai pipeline`` hands every stage besides its YAML section."""

    input_dir: str
    output_dir: str
    run_dir: str
    preset: str | None
    force: bool
    test_dir: str | None = None  # a class-folder test set every evaluate stage scores (``--test``)


def lazy(target: str) -> Callable[..., Any]:
    """``"module:function"`` as a function that imports its module on the first call: naming a stage's run
    or report section loads none of its code (torch, Ray, numba) until the stage is used."""
    module, name = target.split(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    call.__doc__ = f"{target}, imported on first call"
    setattr(call, "target", target)  # noqa: B010 - what the registry test resolves
    return call


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """A verb with only the common flags (``--run --config --set --preset --force --json``)."""


def no_call(args: argparse.Namespace) -> Call:
    return Call({}, {})


def section_only(ctx: PipelineContext, section: dict[str, Any]) -> Call:
    """The usual pipeline step: its YAML section is its config, nothing else comes from the pipeline."""
    return Call(dict(section), {})


def report_keys(report: dict) -> str:
    """The summary line of a stage without one of its own: the report's scalar metrics."""
    skip = {"stage", "number", "key", "input", "config", "started", "seconds", "rows", "counts"}
    return ", ".join(
        f"{k} {v}" for k, v in report.items() if k not in skip and isinstance(v, (int, float, str))
    )


@dataclass(frozen=True)
class Stage:
    """One stage: everything the CLI, ``dcai pipeline``, the HTML report and ``ray_jobs/`` need of it."""

    name: str  # the verb, the ``NN-<name>/`` folder, the YAML section and ``stages:`` entry
    help: str  # one line in ``dcai --help``
    config: type[StageConfig]  # its frozen config (YAML section, preset, --set)
    run: Callable[..., tuple[dict, bool]]  # run(run_dir, cfg, *, force, **inputs) -> (report, ran)
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments  # the verb's own flags
    from_args: Callable[[argparse.Namespace], Call] = no_call  # those flags -> config overrides, inputs
    # a step of ``dcai pipeline``: its YAML section (and the pipeline's folders) -> a Call; None: CLI only
    pipeline: Callable[[PipelineContext, dict[str, Any]], Call] | None = section_only
    summary: Callable[[dict], str] = report_keys  # what the verb and the pipeline print after it ran
    # (run_dir, stage_dir, report) -> report.html part; the folders are Paths, or UriPaths on object storage
    section: Callable[[Any, Any, dict], str] | None = None
    verb: bool = True  # a ``dcai <name>`` verb (evaluate_raw is a pipeline step only)
    needs_run: bool = True  # the verb requires ``--run`` (evaluate also takes ``--data`` instead)
    # answers the verb without running the stage when it returns a report (review without --import: the queue)
    shortcut: Callable[[argparse.Namespace], dict | None] | None = None
