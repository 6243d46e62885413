"""The tune stage's part of ``report.html``: val accuracy per epoch of every trial, the trials table, the winner."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from dcai.report.blocks import html_table
from dcai.report.charts import line_chart


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for one ``NN-tune`` stage from its ``report.json``."""
    trials = report.get("trials") or []
    head = f"<h2>{escape(stage_dir.name)}: augmentation policy search</h2>"
    if not trials:
        return head + "<p class='muted'>no trials recorded</p>"
    stopped = sum(1 for t in trials if t["stopped_early"])
    head += (
        f"<p>{len(trials)} trial(s) ({escape(str(report.get('backend')))}), {stopped} stopped early by ASHA; "
        f"{report.get('n_train')} train / {report.get('n_val')} val images, "
        f"{report.get('search_seconds')} s. Winner: trial {report.get('best_trial')}.</p>"
    )
    chart = line_chart(
        {
            f"trial {t['trial']}{' (stopped)' if t['stopped_early'] else ''}": [
                (i + 1, a) for i, a in enumerate(t["val_acc"])
            ]
            for t in trials
        },
        title="validation accuracy per epoch, one line per trial (short lines: stopped by ASHA)",
        xlabel="epoch",
        ylabel="val accuracy",
        width=640,
    )
    names = sorted({k for t in trials for k in t["params"]})
    table = html_table(
        ["trial", "best val", "epochs", "status", *names],
        [
            [
                t["trial"],
                "" if t["best"] is None else f"{t['best']:.4f}",
                t["epochs_run"],
                "stopped" if t["stopped_early"] else "completed",
                *[t["params"].get(n, "") for n in names],
            ]
            for t in sorted(trials, key=lambda t: -(t["best"] or 0))
        ],
    )
    best = f"<p>AugmentConfig overrides (<code>tuned: true</code> applies them): <code>{escape(json.dumps(report.get('best'), sort_keys=True))}</code></p>"
    confirm = report.get("confirm")
    if confirm:
        best += (
            f"<p>Confirmed over {confirm['epochs']} epochs: best val accuracy {confirm['tuned_val_acc']} "
            f"with the winner, {confirm['baseline_val_acc']} without added images.</p>"
        )
        curves = confirm.get("curves") or {}
        best += line_chart(
            {name: [(i + 1, a) for i, a in enumerate(c)] for name, c in curves.items()},
            title="confirmation: val accuracy per epoch",
            xlabel="epoch",
            ylabel="val accuracy",
        )
    return head + chart + table + best
