"""``dcai pipeline CONFIG.yaml``: run a configured sequence of stages end to end, resumably.

The YAML names the stages in order (``stages: [ingest, dedup, ..., export, evaluate]``) and holds
one section per stage with that stage's config. Every stage skips itself when its input and config
are unchanged, so rerunning after a kill resumes after the last complete stage.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcai.config import ConfigError, deep_merge, load_yaml, parse_sets

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PipelineContext:
    input_dir: str
    output_dir: str
    run_dir: str
    preset: str | None
    force: bool


# stage name -> "module:function"; each function is ``(ctx: PipelineContext, section: dict) -> dict``
# (a stage's report). Stage modules are imported only when a config names the stage.
RUNNERS: dict[str, str] = {
    "ingest": "dcai.pipeline:run_ingest",
    "export": "dcai.pipeline:run_export",
    "report": "dcai.pipeline:run_report",
    "evaluate": "dcai.evaluate.pipeline:pipeline_stage",
    "evaluate_raw": "dcai.evaluate.pipeline:pipeline_stage_raw",
    "dedup": "dcai.dedup.pipeline:pipeline_stage",
    "investigate": "dcai.investigate.pipeline:pipeline_stage",
    "vote": "dcai.vote.pipeline:pipeline_stage",
    "clean": "dcai.clean.pipeline:pipeline_stage",
    "augment": "dcai.augment.pipeline:pipeline_stage",
    "tune": "dcai.tune.pipeline:pipeline_stage",
    "balance": "dcai.shape.pipeline:balance_stage",
    "split": "dcai.shape.pipeline:split_stage",
}


def resolve_config(path: str | Path) -> Path:
    """A config path as given, else the same path inside the package (``configs/demo.yaml``)."""
    p = Path(path)
    if p.exists():
        return p
    for candidate in (PACKAGE_DIR / p, PACKAGE_DIR / "configs" / p.name):
        if candidate.exists():
            return candidate
    raise ConfigError(f"{path}: config file not found (also looked in {PACKAGE_DIR / 'configs'})")


def _runner(name: str) -> Callable[[PipelineContext, dict], dict]:
    if name not in RUNNERS:
        raise ConfigError(f"unknown stage {name!r} in pipeline; known stages: {sorted(RUNNERS)}")
    module, func = RUNNERS[name].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        raise ConfigError(f"stage {name!r} is not available in this build ({e})") from e


def stage_config(cls, ctx: PipelineContext, section: dict[str, Any]):
    """A stage's frozen config from its YAML section and the pipeline's preset."""
    from dcai.config import load

    preset = ctx.preset if ctx.preset in getattr(cls, "PRESETS", {}) else None
    return load(cls, preset=preset, overrides=section)


def run_ingest(ctx: PipelineContext, section: dict) -> dict:
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run, summary_table

    report, _ = run(ctx.input_dir, ctx.run_dir, stage_config(IngestConfig, ctx, section), force=ctx.force)
    print(summary_table(report))
    return report


def run_export(ctx: PipelineContext, section: dict) -> dict:
    from dcai.export.config import ExportConfig
    from dcai.export.pipeline import run

    report = run(ctx.run_dir, ctx.output_dir, stage_config(ExportConfig, ctx, section), force=ctx.force)
    print(f"exported {report['exported']} images to {report['out']} ({report['per_split']})")
    return report


def run_report(ctx: PipelineContext, section: dict) -> dict:
    from dcai.report.html import write_report

    return {"report": str(write_report(ctx.run_dir))}


def run_pipeline(
    config_file: str | Path,
    *,
    input_dir: str,
    output_dir: str,
    run_dir: str | None = None,
    sets: Iterable[str] = (),
    preset: str | None = None,
    force: bool = False,
) -> dict:
    """Run every stage the config names, in order; returns a summary with each stage's report."""
    path = resolve_config(config_file)
    data = deep_merge(load_yaml(path), parse_sets(sets))
    stages = data.get("stages")
    if not stages or not isinstance(stages, list):
        raise ConfigError(f"{path}: needs a 'stages' list, e.g. stages: [ingest, dedup, export]")
    for name in stages:
        _runner(name)  # fail on an unknown stage before any work is done
    preset = preset or data.get("preset")
    ctx = PipelineContext(
        input_dir=str(input_dir),
        output_dir=str(Path(output_dir).resolve()),
        run_dir=str(Path(run_dir or Path(output_dir) / "run").resolve()),
        preset=preset,
        force=force,
    )
    reports: dict[str, dict] = {}
    started = time.time()
    for name in stages:
        t0 = time.time()
        print(f"== {name}", flush=True)
        reports[name] = _runner(name)(ctx, data.get(name) or {})
        print(f"   {name} done in {time.time() - t0:.1f} s", flush=True)
    from dcai.report.html import write_report

    report_path = write_report(ctx.run_dir)
    summary = {
        "config": str(path),
        "run": ctx.run_dir,
        "output": ctx.output_dir,
        "report": str(report_path),
        "seconds": round(time.time() - started, 1),
        "stages": list(stages),
        "reports": reports,
    }
    print(f"run:    {ctx.run_dir}\nreport: {report_path}\nexport: {ctx.output_dir}")
    return summary
