"""The clean section of ``report.html``: actions per rule and galleries of what changed or waits for review."""

from __future__ import annotations

from pathlib import Path

from dcai.report.blocks import html_table
from dcai.review.gallery import gallery, rows_where, stage_table


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    rules = sorted(report.get("rules", {}).items(), key=lambda kv: -kv[1])
    t = stage_table(stage_dir)
    mode = "applied (--auto)" if report.get("auto") else "proposed only"
    parts = [
        f"<h2>Clean: {mode}</h2>",
        html_table(["action", "images"], sorted(report.get("actions", {}).items())),
        html_table(["rule", "images"], rules),
    ]
    for action, title in (("relabel", "Relabelled"), ("remove", "Removed"), ("review", "Queued for review")):
        rows = rows_where(t, "clean_action", action)
        parts.append(f"<h3>{title} ({len(rows)})</h3>")
        parts.append(
            gallery(
                t,
                rows,
                suggested="clean_label",
                note="clean_why" if "clean_why" in t.column_names else "clean_rule",
            )
        )
    return "".join(parts)
