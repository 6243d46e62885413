"""``dcai pipeline CONFIG --ablate``: what each stage added, found by leaving it out.

The full pipeline runs first. Then, for each stage that changes the data (every stage of the config
but ingest, export, report and the evaluate stages), the same pipeline runs without it. A variant's run
starts from copies of the full run's stage folders that come before the left-out stage (their input
and config are the same, so the pipeline would only skip them), and only the stages from there on run
again. Each variant's evaluate stage trains the fixed model with the same seeds as the full
pipeline's, so the difference per seed is paired; the table says what each stage added, with its spread.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dcai import storage
from dcai.config import ConfigError, deep_merge, parse_sets
from dcai.runs import Run
from dcai.stages import BY_NAME

NOT_ABLATED = ("ingest", "export", "report", "evaluate", "evaluate_raw")


def variants(stages: list[str]) -> dict[str, list[str]]:
    """``{"no_<stage>": stages without it}`` for each stage that changes the data."""
    return {
        f"no_{s}": [t for t in stages if t != s and t != "evaluate_raw"]
        for s in stages
        if s not in NOT_ABLATED
    }


def variant_config(data: dict[str, Any], stages: list[str]) -> dict[str, Any]:
    """The full config with ``stages``; without tune, augment falls back on its own policy."""
    out = json.loads(json.dumps(data))  # a deep copy of plain YAML data
    out["stages"] = stages
    for name in [k for k in out if k in BY_NAME and k not in stages]:
        del out[name]  # a left-out stage's section would be refused: no stage of the variant reads it
    if "tune" not in stages and isinstance(out.get("augment"), dict):
        out["augment"]["tuned"] = False
    return out


def copy_shared(full_run: Path, run_dir: Path, stages: list[str], left_out: str) -> list[str]:
    """Copy the full run's stage folders that come before ``left_out`` into ``run_dir``; their names."""
    before = set(stages[: stages.index(left_out)])
    copied = []
    for _, name, path in Run(full_run).stages():
        if name in before and not (run_dir / path.name).exists():
            shutil.copytree(storage.local(path, "--ablate"), run_dir / path.name, symlinks=True)
            copied.append(name)
    return copied


def paired(a: dict, b: dict) -> tuple[float, float] | None:
    """Mean and sample std over seeds of test accuracy ``a - b`` (two evaluate test-set entries)."""
    x, y = a.get("per_seed") or [], b.get("per_seed") or []
    if not x or len(x) != len(y):
        return None
    d = np.asarray(x) - np.asarray(y)
    return float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0


def table(results: dict[str, dict]) -> list[dict]:
    """One row per variant and test set: its accuracy and what the left-out stage added (full − variant)."""
    full = results["full"]
    rows = []
    for name, ev in results.items():
        for test, t in (ev.get("test") or {}).items():
            row = {
                "variant": name,
                "test": test,
                "mean": t["mean"],
                "std": t["std"],
                "per_seed": t.get("per_seed"),
            }
            if name != "full" and test in (full.get("test") or {}):
                row["stage_added"] = paired(full["test"][test], t)
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["what each stage added (full pipeline − the pipeline without it; paired by seed):"]
    for r in rows:
        added = r.get("stage_added")
        what = "" if added is None else f"   stage added {100 * added[0]:+.1f} ± {100 * added[1]:.1f} points"
        lines.append(
            f"  {r['variant']:<16} {r['test']:<12} {100 * r['mean']:.1f}% ± {100 * r['std']:.1f}{what}"
        )
    return "\n".join(lines)


def ablate(
    config_file: str | Path,
    *,
    input_dir: str,
    output_dir: str,
    run_dir: str | None = None,
    sets: list[str] | tuple[str, ...] = (),
    preset: str | None = None,
    force: bool = False,
    test_dir: str | None = None,
    wait: bool = False,
) -> dict:
    """Run the full pipeline and every leave-one-stage-out variant; write ``OUTPUT/ablation.json``."""
    from dcai.pipeline import load_pipeline_config, resolve_config, run_pipeline

    path = resolve_config(config_file)
    data = load_pipeline_config(path)  # --set stays a layer of its own, over the preset
    stages = list(deep_merge(data, parse_sets(sets)).get("stages") or [])
    if "evaluate" not in stages:
        raise ConfigError(f"{path}: --ablate scores each variant with the evaluate stage; add it to 'stages'")
    out = Path(output_dir).resolve()
    full = run_pipeline(path, input_dir=input_dir, output_dir=str(out), run_dir=run_dir, sets=sets,
                        preset=preset, force=force, test_dir=test_dir, wait=wait)  # fmt: skip
    results = {"full": full["reports"]["evaluate"]}
    shared: dict[str, list[str]] = {}
    for name, kept in variants(stages).items():
        where = out / "ablate" / name
        where.mkdir(parents=True, exist_ok=True)
        left_out = name[3:]
        shared[name] = copy_shared(Path(full["run"]), where / "run", stages, left_out)
        cfg = where / "config.yaml"
        cfg.write_text(yaml.safe_dump(variant_config(data, kept), sort_keys=False))
        print(
            f"== ablate: {name} (the full run's {', '.join(shared[name]) or 'no'} stages reused)", flush=True
        )
        keys = {kv: kv.split("=", 1)[0] for kv in sets}
        kept_sets = [kv for kv, k in keys.items() if k.split(".")[0] in (*kept, "preset") and k != "stages"
                     and not (k == "augment.tuned" and "tune" not in kept)]  # fmt: skip
        summary = run_pipeline(cfg, input_dir=input_dir, output_dir=str(where / "export"), run_dir=str(where / "run"),
                               sets=kept_sets, preset=preset, force=force, test_dir=test_dir)  # fmt: skip
        results[name] = summary["reports"]["evaluate"]
    rows = table(results)
    report = {"stages": stages, "variants": {k: v.get("test") for k, v in results.items()}, "rows": rows,
              "reused": shared}  # fmt: skip
    text = json.dumps(report, indent=1, default=str)
    (out / "ablation.json").write_text(text)
    (Path(full["run"]) / "ablation.json").write_text(text)  # the full run's HTML report shows the table
    from dcai.report.html import write_report

    write_report(full["run"])
    print(format_table(rows), flush=True)
    return {**full, "ablation": report}
