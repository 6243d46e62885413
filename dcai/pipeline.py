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
    test_dir: str | None = None  # a class-folder test set every evaluate stage scores (``--test``)


# stage name -> "module:function"; each function is ``(ctx: PipelineContext, section: dict) -> dict``
# (a stage's report). Stage modules are imported only when a config names the stage.
RUNNERS: dict[str, str] = {
    "ingest": "dcai.pipeline:run_ingest",
    "export": "dcai.pipeline:run_export",
    "report": "dcai.pipeline:run_report",
    "evaluate": "dcai.evaluate.pipeline:pipeline_stage",
    "evaluate_raw": "dcai.evaluate.pipeline:pipeline_stage_raw",
    "dedup": "dcai.pipeline:run_dedup",
    "investigate": "dcai.investigate.pipeline:pipeline_stage",
    "vote": "dcai.vote.pipeline:pipeline_stage",
    "clean": "dcai.clean.pipeline:pipeline_stage",
    "augment": "dcai.augment.pipeline:pipeline_stage",
    "tune": "dcai.tune.pipeline:pipeline_stage",
    "balance": "dcai.balance.pipeline:pipeline_stage",
    "split": "dcai.split.pipeline:pipeline_stage",
}


# stage name -> its config class: every section is checked before the first stage runs, so a typo in
# the last section fails in a second, not after an hour of training.
CONFIGS: dict[str, str] = {
    "ingest": "dcai.ingest.config:IngestConfig",
    "export": "dcai.export.config:ExportConfig",
    "evaluate": "dcai.evaluate.config:EvaluateConfig",
    "evaluate_raw": "dcai.evaluate.config:EvaluateConfig",
    "dedup": "dcai.dedup.config:DedupConfig",
    "investigate": "dcai.investigate.config:InvestigateConfig",
    "vote": "dcai.vote.config:VoteConfig",
    "clean": "dcai.clean.config:CleanConfig",
    "augment": "dcai.augment.config:AugmentConfig",
    "tune": "dcai.tune.config:TuneConfig",
    "balance": "dcai.balance.config:BalanceConfig",
    "split": "dcai.split.config:SplitConfig",
}


def check_sections(path: Path, data: dict, preset: str | None) -> None:
    """Load every named stage's section into its config class; a ConfigError names file and stage."""
    from dcai.config import load

    for name in data["stages"]:
        if name not in CONFIGS:
            continue
        module, cls_name = CONFIGS[name].split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section {name!r} must be a mapping of options, got {section!r}")
        try:
            load(cls, preset=_preset_for(cls, preset), overrides=section)
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: section {name!r}: {e}") from e


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


def _preset_for(cls, preset: str | None) -> str | None:
    """The pipeline's preset where the stage has one of that name (``tiny``), else none."""
    return preset if preset in getattr(cls, "PRESETS", {}) else None


def stage_config(cls, ctx: PipelineContext, section: dict[str, Any]):
    """A stage's frozen config from its YAML section and the pipeline's preset."""
    from dcai.config import load

    return load(cls, preset=_preset_for(cls, ctx.preset), overrides=section)


def run_ingest(ctx: PipelineContext, section: dict) -> dict:
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run, summary_table

    report, _ = run(
        ctx.run_dir, stage_config(IngestConfig, ctx, section), source=ctx.input_dir, force=ctx.force
    )
    print(summary_table(report))
    return report


def run_export(ctx: PipelineContext, section: dict) -> dict:
    from dcai.export.config import ExportConfig
    from dcai.export.pipeline import run

    report, _ = run(
        ctx.run_dir, stage_config(ExportConfig, ctx, section), out=ctx.output_dir, force=ctx.force
    )
    print(f"exported {report['exported']} images to {report['out']} ({report['per_split']})")
    return report


def run_dedup(ctx: PipelineContext, section: dict) -> dict:
    from dcai.dedup.cli import summary
    from dcai.dedup.config import DedupConfig
    from dcai.dedup.pipeline import run

    report, _ = run(ctx.run_dir, stage_config(DedupConfig, ctx, section), force=ctx.force)
    print(summary(report))
    return report


def run_report(ctx: PipelineContext, section: dict) -> dict:
    from dcai.report.html import write_report

    return {"report": str(write_report(ctx.run_dir))}


def headline(reports: dict[str, dict]) -> list[str]:
    """Before / after lines when the pipeline evaluated both the ingested data and its own output.

    Only test sets are compared: validation sets differ between the raw data and the output (the
    pipeline re-splits), so their accuracies do not measure the same thing.
    """
    from dcai.evaluate.core import before_after

    before, after = reports.get("evaluate_raw"), reports.get("evaluate")
    if not before or not after:
        return []
    lines = [
        f"fixed model ({after.get('epochs')} epochs, {len(after.get('seeds', []))} seed(s)), "
        f"accuracy on held-out test images, before -> after the pipeline:",
        f"  train images: {before.get('n_train')} -> {after.get('n_train')}",
    ]
    for name, b, t in before_after(before, after):
        lines.append(
            f"  test {name:<12} {b['mean']:.3f} ± {b['std']:.3f} -> {t['mean']:.3f} ± {t['std']:.3f}"
            f"  ({100 * (t['mean'] - b['mean']):+.1f} points, n={t['n']})"
        )
    return lines


def run_pipeline(
    config_file: str | Path,
    *,
    input_dir: str,
    output_dir: str,
    run_dir: str | None = None,
    sets: Iterable[str] = (),
    preset: str | None = None,
    force: bool = False,
    test_dir: str | None = None,
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
    check_sections(path, data, preset)
    ctx = PipelineContext(
        input_dir=str(input_dir),
        output_dir=str(Path(output_dir).resolve()),
        run_dir=str(Path(run_dir or Path(output_dir) / "run").resolve()),
        preset=preset,
        force=force,
        test_dir=str(Path(test_dir).resolve()) if test_dir else None,
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
        "headline": headline(reports),
    }
    print(f"run:    {ctx.run_dir}\nreport: {report_path}\nexport: {ctx.output_dir}")
    return summary
