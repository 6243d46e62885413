"""``dcai pipeline CONFIG.yaml``: run a configured sequence of stages end to end, resumably.

The YAML names the stages in order (``stages: [ingest, dedup, ..., export, evaluate]``, any
:mod:`dcai.stages` step, or ``report``) and holds one section per stage with that stage's config. Every stage skips itself when its input and config
are unchanged, so rerunning after a kill resumes after the last complete stage.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dcai import stages, storage
from dcai.config import ConfigError, deep_merge, load, load_yaml, parse_sets, unknown_message
from dcai.stage import Call, PipelineContext, Stage

PACKAGE_DIR = Path(__file__).resolve().parent
REPORT = "report"  # a step of no stage: write RUN/report.html (run_pipeline also writes it at the end)


def _step(name: str) -> Stage | None:
    """The stage a ``stages:`` entry names (None for ``report``); a ConfigError for an unknown one."""
    if name == REPORT:
        return None
    stage = stages.get(name)
    if stage.pipeline is None:
        raise ConfigError(f"stage {name!r} is not a pipeline step (run it with `dcai {name}`)")
    return stage


def _preset_for(cls, preset: str | None) -> str | None:
    """The pipeline's preset where the stage has one of that name (``tiny``), else none."""
    return preset if preset in getattr(cls, "PRESETS", {}) else None


def _config(stage: Stage, call: Call, preset: str | None, pinned: dict[str, Any] | None = None):
    """A stage's config: its section ← the preset ← ``--set STAGE.KEY`` (``pinned``): the preset comes
    after the file, so ``--preset tiny`` is tiny whatever the file's sections say."""
    pinned = {k: v for k, v in (pinned or {}).items() if k in call.overrides}
    return load(stage.config, base=call.overrides, preset=_preset_for(stage.config, preset), overrides=pinned)


TOP_LEVEL = ("stages", "preset")  # a pipeline file's keys besides one section per listed stage


def check_top_level(path: Path, data: dict, stage_names: list[str]) -> None:
    """Every top-level key of the file is ``stages``, ``preset`` or the section of a listed stage."""
    for key in data:
        if key in TOP_LEVEL or key in stage_names:
            continue
        if key in stages.BY_NAME or key == REPORT:
            raise ConfigError(
                f"{path}: section {key!r} is for a stage that is not in stages: {stage_names}; add it "
                "there or remove the section"
            )
        raise ConfigError(f"{path}: {unknown_message('section', str(key), [*TOP_LEVEL, *stage_names])}")


def check_sets(sets_data: dict, stage_names: list[str]) -> None:
    """``--set STAGE.KEY=VALUE`` names a listed stage (``--set preset=tiny`` is the one top-level key)."""
    for key, value in sets_data.items():
        if key in TOP_LEVEL:
            continue
        if key not in stage_names or not isinstance(value, dict):
            raise ConfigError(
                f"--set {key}{'.KEY' if isinstance(value, dict) else ''}=VALUE: pipeline --set takes "
                f"STAGE.KEY=VALUE; {unknown_message('stage', str(key), stage_names)}"
            )


def check_sections(path: Path, data: dict, preset: str | None, sets_data: dict | None = None) -> None:
    """Load every named stage's section into its config class; a ConfigError names file and stage.

    Every section is checked before the first stage runs, so a typo in the last section fails in a
    second, not after an hour of training.
    """
    blank = PipelineContext(input_dir="", output_dir="", run_dir="", preset=preset, force=False)
    for name in data["stages"]:
        stage = _step(name)
        if stage is None:
            continue
        assert stage.pipeline is not None
        section = data.get(name) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section {name!r} must be a mapping of options, got {section!r}")
        try:
            _config(stage, stage.pipeline(blank, section), preset, (sets_data or {}).get(name))
        except (ConfigError, TypeError, ValueError) as e:
            where = " (with --set)" if (sets_data or {}).get(name) else ""
            raise ConfigError(f"{path}: section {name!r}{where}: {e}") from e


def resolve_config(path: str | Path) -> Path:
    """A config path as given, else the same path inside the package (``configs/demo.yaml``)."""
    p = Path(path)
    if p.exists():
        return p
    for candidate in (PACKAGE_DIR / p, PACKAGE_DIR / "configs" / p.name):
        if candidate.exists():
            return candidate
    raise ConfigError(f"{path}: config file not found (also looked in {PACKAGE_DIR / 'configs'})")


def load_pipeline_config(path: str | Path, *, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A pipeline YAML; ``extends: OTHER.yaml`` (beside it, or shipped) is loaded first and this file's
    sections merged over it, so a variant (``competition-gpu.yaml``) says only what it changes."""
    path = resolve_config(path)
    data = load_yaml(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends must name one config file, got {base!r}")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: extends goes round in a circle")
    beside = path.parent / base
    parent = load_pipeline_config(beside if beside.exists() else base, _seen=(*_seen, path.resolve()))
    return deep_merge(parent, data)


def run_step(
    name: str, ctx: PipelineContext, section: dict[str, Any], pinned: dict[str, Any] | None = None
) -> dict:
    """One ``stages:`` entry: the stage's section (and the pipeline's folders) → config and inputs → its run."""
    stage = _step(name)
    if stage is None:
        from dcai.report.html import write_report

        return {"report": str(write_report(ctx.run_dir))}
    assert stage.pipeline is not None
    call = stage.pipeline(ctx, section)
    cfg = _config(stage, call, ctx.preset, pinned)
    report, _ = stage.run(ctx.run_dir, cfg, force=ctx.force, **call.inputs)
    print(stage.summary(report))
    return report


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
        pb, pt = b.get("per_seed") or [], t.get("per_seed") or []
        if len(pb) == len(pt) > 1:  # the same seeds before and after: a paired difference per seed
            lines.append(
                f"  {'':<17} per seed: " + ", ".join(f"{100 * (y - x):+.1f}" for x, y in zip(pb, pt))
            )
    return lines


def check_paths(ctx: PipelineContext) -> None:
    """Every path the pipeline was given, checked before the first stage: the input and ``--test`` exist,
    the output and the run folder stay out of the input, and the output is one export may write to."""
    from dcai.export import guard

    for flag, p in (("--input", ctx.input_dir), ("--test", ctx.test_dir)):
        if p and not storage.is_uri(p) and not Path(p).exists():
            raise ConfigError(f"{p}: {flag} not found")
    if ctx.test_dir and not Path(ctx.test_dir).is_dir():
        raise ConfigError(f"{ctx.test_dir}: --test must be a folder of class folders")
    guard.check_not_input(ctx.output_dir, [ctx.input_dir], flag="--output")
    guard.check_not_input(ctx.run_dir, [ctx.input_dir], flag="--run")
    if ctx.test_dir:
        guard.check_not_input(ctx.output_dir, [ctx.test_dir], flag="--output")
    guard.previous_files(storage.path(ctx.output_dir), keep=[storage.path(ctx.run_dir)], flag="--output")


def check_config(path: Path, sets: Iterable[str], preset: str | None) -> tuple[dict, dict]:
    """The whole config checked before anything runs: the stages, every top-level key, every ``--set``
    and every section's values. Returns the file merged with ``--set``, and the ``--set`` part alone."""
    file_data = load_pipeline_config(path)
    sets_data = parse_sets(sets)
    data = deep_merge(file_data, sets_data)
    stage_names = data.get("stages")
    if not stage_names or not isinstance(stage_names, list):
        raise ConfigError(f"{path}: needs a 'stages' list, e.g. stages: [ingest, dedup, export]")
    for name in stage_names:  # fail on an unknown stage before any work is done
        if name != REPORT and name not in stages.BY_NAME:
            known = [s.name for s in stages.STAGES if s.pipeline is not None] + [REPORT]
            raise ConfigError(f"{path}: stages: {unknown_message('stage', str(name), known)}")
        _step(name)
    check_top_level(path, file_data, stage_names)
    check_sets(sets_data, stage_names)
    check_sections(path, data, preset or data.get("preset"), sets_data)
    return data, sets_data


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
    wait: bool = False,
) -> dict:
    """Run every stage the config names, in order; returns a summary with each stage's report.

    The run is locked for the whole pipeline: a second command on it is refused, or waits (``wait``)."""
    path = resolve_config(config_file)
    data, sets_data = check_config(path, sets, preset)
    stages = data["stages"]
    preset = preset or data.get("preset")
    ctx = PipelineContext(
        input_dir=str(input_dir),
        output_dir=str(storage.path(output_dir)),  # a local folder or any pyarrow.fs URI
        run_dir=str(storage.path(run_dir) if run_dir else storage.path(output_dir) / "run"),
        preset=preset,
        force=force,
        test_dir=str(Path(test_dir).resolve()) if test_dir else None,
    )
    check_paths(ctx)
    reports: dict[str, dict] = {}
    started = time.time()
    from dcai.report.html import write_report
    from dcai.runs import Run

    with Run(ctx.run_dir).writing(wait=wait):
        for name in stages:
            t0 = time.time()
            print(f"== {name}", flush=True)
            reports[name] = run_step(name, ctx, data.get(name) or {}, sets_data.get(name))
            print(f"   {name} done in {time.time() - t0:.1f} s", flush=True)
        report_path = write_report(ctx.run_dir)
    warnings = final_warnings(ctx.run_dir, reports)
    summary = {
        "config": str(path),
        "run": ctx.run_dir,
        "output": ctx.output_dir,
        "report": str(report_path),
        "seconds": round(time.time() - started, 1),
        "stages": list(stages),
        "reports": reports,
        "headline": headline(reports),
        "warnings": warnings,
    }
    print(f"run:    {ctx.run_dir}\nreport: {report_path}\nexport: {ctx.output_dir}")
    for w in warnings:  # last, where they are seen
        print(f"WARNING: {w}", file=sys.stderr, flush=True)
    return summary


def final_warnings(run_dir: str, reports: dict[str, dict]) -> list[str]:
    """What the run ends without: each stage's own warnings (export: an empty split, a class with no
    image), and without an export, the classes the final manifest has no train image of."""
    out = [f"{name}: {w}" for name, r in reports.items() for w in (r.get("warnings") or [])]
    if "export" not in reports:
        from dcai import manifest
        from dcai.export.plan import expected_classes, gaps
        from dcai.runs import Run

        table = Run(run_dir).manifest()
        rows = [
            {"split": s, "label": lab}
            for s, lab in zip(manifest.column(table, "split"), manifest.column(table, "label"))
        ]
        out += [f"final manifest: {g}" for g in gaps(rows, expected_classes(table), splits=(manifest.TRAIN,))]
    return out
