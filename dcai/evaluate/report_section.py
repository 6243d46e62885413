"""The evaluate stage's part of ``report.html``: accuracy mean ± std, per seed, and val-accuracy curves."""

from __future__ import annotations

from html import escape
from pathlib import Path

from dcai.report.blocks import html_table
from dcai.report.charts import line_chart

RAW_STAGE = "evaluate_raw"  # dcai.evaluate.pipeline.RAW_STAGE; not imported here, it pulls in torch


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for one ``NN-evaluate`` (or ``evaluate_raw``) stage from its ``report.json``."""
    if "val_acc_mean" not in report:
        return f"<h2>{escape(stage_dir.name)}</h2><p class='muted'>no accuracy recorded</p>"
    seeds = report.get("seeds", [])
    head = (
        f"<h2>{escape(stage_dir.name)}: fixed-model accuracy</h2><p>{escape(report.get('model', ''))}; "
        f"{len(seeds)} seed(s) × {report.get('epochs')} epochs on {escape(str(report.get('device')))}, "
        f"{report.get('n_train')} train / {report.get('n_val')} val images "
        f"(counted {report.get('counted_for_cap')} against the cap), {report.get('train_seconds')} s.</p>"
    )
    rows = [["best val", _pm(report["val_acc_mean"], report["val_acc_std"]), report.get("n_val")]]
    rows += [
        [f"test: {name}", _pm(t["mean"], t["std"]), t["n"]] for name, t in report.get("test", {}).items()
    ]
    summary = html_table(["set", "accuracy (mean ± std over seeds)", "images"], rows)
    tests = list(report.get("test", {}))
    per_seed = html_table(
        ["seed", "best val", "best epoch", *[f"test: {t}" for t in tests]],
        [
            [
                s["seed"],
                f"{s['best_val_acc']:.4f}",
                s["best_epoch"],
                *[f"{s['test_acc'].get(t, 0):.4f}" for t in tests],
            ]
            for s in report.get("per_seed", [])
        ],
    )
    curves = report.get("curves", {}).get("val_acc", [])
    chart = line_chart(
        {f"seed {s}": [(i + 1, a) for i, a in enumerate(c)] for s, c in zip(seeds, curves)},
        title="validation accuracy per epoch",
        xlabel="epoch",
        ylabel="val accuracy",
    )
    return head + _before_after(run_dir, stage_dir, report) + summary + per_seed + (chart if curves else "")


def _before_after(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """On the final evaluate of a run that also evaluated its raw data: test accuracy before → after."""
    from dcai.evaluate.core import before_after
    from dcai.runs import Run

    run = Run(run_dir)
    if not stage_dir.name.endswith("-evaluate") or run.stage_dir(RAW_STAGE) is None:
        return ""
    rows = [
        [
            name,
            _pm(b["mean"], b["std"]),
            _pm(t["mean"], t["std"]),
            f"{100 * (t['mean'] - b['mean']):+.1f}",
            t["n"],
        ]
        for name, b, t in before_after(run.report(RAW_STAGE), report)
    ]
    if not rows:
        return ""
    return (
        "<p><b>Before → after</b> (the data as ingested against this run's output; test sets only, "
        "since the pipeline re-splits val):</p>"
        + html_table(["test set", "before", "after", "points", "images"], rows)
    )
