"""The balance section of ``report.html``: class counts before and after, surplus per origin.

Reads the stage's ``report.json`` metrics and manifests; a key an older run lacks shows as missing
rather than raising.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

import pyarrow as pa

from dcai import manifest
from dcai.report.blocks import html_table
from dcai.report.charts import grouped_bars
from dcai.report.stage_data import class_counts, pool_of, previous_manifest, report_dict, stage_manifest


def _per_origin(before: pa.Table | None, after: pa.Table | None, pool: tuple[str, ...]) -> list[list]:
    """Rows ``[origin, kept in pool, moved to surplus, back from surplus]`` by comparing the manifests."""
    if after is None:
        return []
    split_after = dict(zip(after.column("id").to_pylist(), after.column("split").to_pylist()))
    origin = dict(zip(after.column("id").to_pylist(), after.column("origin").to_pylist()))
    if before is not None:
        split_before = dict(zip(before.column("id").to_pylist(), before.column("split").to_pylist()))
    else:  # no input manifest: fall back on the reason balance writes on the rows it moves
        from dcai.balance.balance import BACK, OVER

        moved_from = {OVER: pool[0], BACK: manifest.SURPLUS}
        reasons = dict(zip(after.column("id").to_pylist(), after.column("reason").to_pylist()))
        split_before = {i: moved_from.get(reasons[i], s) for i, s in split_after.items()}
    kept: Counter[str] = Counter()
    out: Counter[str] = Counter()
    back: Counter[str] = Counter()
    for i, s in split_after.items():
        was = split_before.get(i, s)
        o = str(origin[i])
        kept[o] += s in pool
        out[o] += was in pool and s == manifest.SURPLUS
        back[o] += was == manifest.SURPLUS and s in pool
    origins = sorted(o for o in set(kept) | set(out) | set(back) if kept[o] or out[o] or back[o])
    return [[o, kept[o], out[o], back[o]] for o in origins]


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for ``NN-balance``: budget, class counts before and after (bars and table), moves per origin."""
    pool = pool_of(report)
    before_table = previous_manifest(run_dir, stage_dir, report)
    after_table = stage_manifest(stage_dir)
    before = class_counts(before_table, pool)
    after = class_counts(after_table, pool) or report_dict(report, "kept_per_class")
    available, quota = report_dict(report, "available"), report_dict(report, "quota")
    labels = sorted(set(before) | set(after) | set(available) | set(quota))
    pool_text = " + ".join(pool)
    parts = [
        f"<h2>Balance: {escape(str(report.get('mode', '?')))} classes under a budget</h2>",
        f"<p>Budget {report.get('budget', '?')} rows of {escape(pool_text)}; kept "
        f"{report.get('kept_total', sum(after.values()))}; {report.get('to_surplus', '?')} moved to "
        f"<b>surplus</b> (kept, out of play); {report.get('back_from_surplus', 0)} back from surplus.</p>",
    ]
    if labels:
        series = {"before": [before.get(c, 0) for c in labels], "after": [after.get(c, 0) for c in labels]}
        if before_table is None:
            del series["before"]
        parts.append(grouped_bars(labels, series, title=f"{pool_text} images per class, before and after"))
        rows = [
            [
                c,
                before.get(c, "?") if before_table is not None else "?",
                available.get(c, "?"),
                quota.get(c, "?"),
                after.get(c, 0),
            ]
            for c in labels
        ]
        rows.append(
            [
                "total",
                sum(before.values()) if before_table is not None else "?",
                sum(available.values()) if available else "?",
                sum(quota.values()) if quota else "?",
                sum(after.values()),
            ]
        )
        parts.append(html_table(["class", "before", "available (incl. surplus)", "quota", "after"], rows))
    else:
        parts.append("<p class='muted'>no class counts recorded</p>")
    origins = _per_origin(before_table, after_table, pool)
    if origins:
        parts.append("<h3>Per origin</h3>")
        parts.append(html_table(["origin", "kept", "to surplus", "back from surplus"], origins))
    return "".join(parts)
