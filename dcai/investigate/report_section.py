"""The investigate section of ``report.html``: the per-round table (the paper's Table 1) and the queue."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcai.report.blocks import html_table
from dcai.review.gallery import by_score, gallery, rows_where, stage_table


def _fmt(v) -> str:
    if isinstance(v, float):
        return "–" if np.isnan(v) else f"{v:.3f}"
    return "–" if v is None else str(v)


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    cols = ["round", "trained_on", "train", "val", "train_acc", "val_acc", "certified", "queued", "reviewed",
            "validated_share", "pipeline_accuracy", "suggestion_accuracy", "epoch_seconds"]  # fmt: skip
    rounds = report.get("rounds", [])
    present = [c for c in cols if any(c in r for r in rounds)]
    table_html = html_table(present, [[_fmt(r.get(c)) for c in present] for r in rounds])
    t = stage_table(stage_dir)
    queued = by_score(t, rows_where(t, "investigate_status", "queued"), "aux_loss")
    certified = by_score(t, rows_where(t, "investigate_status", "certified"), "aux_loss", descending=True)
    return (
        "<h2>Investigate: auxiliary-model rounds</h2>"
        f"<p>{report.get('rows_investigated', 0)} images; status {report.get('status')}; "
        f"reviewer answers {report.get('reviewed')}.</p>{table_html}"
        f"<h3>Queued for review, highest loss first ({len(queued)})</h3>"
        + gallery(t, queued, score="aux_loss", suggested="suggested_label")
        + f"<h3>Certified with the highest loss ({len(certified)} certified): the ones to spot-check</h3>"
        + gallery(t, certified, score="aux_loss", suggested="suggested_label", limit=24)
    )
