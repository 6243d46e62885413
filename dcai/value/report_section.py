"""The value section of ``report.html``: the harmful images gallery (lowest TracIn influence first)."""

from __future__ import annotations

from pathlib import Path

from dcai.report.blocks import html_table
from dcai.review.gallery import by_score, gallery, rows_where, stage_table


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    t = stage_table(stage_dir)
    bad = by_score(t, rows_where(t, "value_harmful"), "value_influence", descending=False)
    return (
        "<h2>Value: influence on validation loss (TracIn)</h2>"
        + html_table(
            ["images valued", "validation images", "negative influence", "harmful", "checkpoint epochs"],
            [
                [
                    report.get("rows_valued", 0),
                    report.get("validation_rows", 0),
                    report.get("negative", 0),
                    report.get("harmful", 0),
                    ", ".join(map(str, report.get("checkpoint_epochs", []))),
                ]
            ],
        )  # fmt: skip
        + f"<h3>Harms validation ({len(bad)}): most harmful first</h3>"
        + gallery(t, bad, score="value_influence", suggested="value_top_label")
    )
