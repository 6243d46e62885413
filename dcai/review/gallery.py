"""HTML galleries of flagged images (given label, suggested label, scores) for the stages' report sections."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.report.blocks import thumbnail_img


def gallery(
    table: pa.Table,
    rows: np.ndarray,
    *,
    score: str | None = None,
    suggested: str | None = None,
    note: str | None = None,
    limit: int = 48,
) -> str:
    """Thumbnails of ``rows`` (indices into ``table``, already in display order) with a caption each:
    ``given → suggested``, the ``score`` column's value and a ``note`` column (e.g. the rule)."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return "<p class='muted'>none</p>"
    uri, label = manifest.column(table, "uri"), manifest.column(table, "label")
    cols = {c: manifest.column(table, c) for c in (score, suggested, note) if c and c in table.column_names}
    cells = []
    for i in rows[:limit]:
        given = label[i]
        sugg = cols[suggested][i] if suggested in cols else None
        text = escape(str(given)) + (f" → <b>{escape(str(sugg))}</b>" if sugg and sugg != given else "")
        if score in cols and cols[score][i] is not None:
            text += f"<br>{escape(score)} {float(cols[score][i]):.3f}"
        if note in cols and cols[note][i]:
            text += f"<br><span class='muted'>{escape(str(cols[note][i]))}</span>"
        cells.append(f'<div class="thumb">{thumbnail_img(uri[i])}{text}</div>')
    more = f"<p class='muted'>… and {len(rows) - limit} more</p>" if len(rows) > limit else ""
    return f'<div class="thumbs">{"".join(cells)}</div>{more}'


def stage_table(stage_dir: Path) -> pa.Table:
    return manifest.read(Path(stage_dir) / "manifest.parquet")


def rows_where(table: pa.Table, column: str, value=True) -> np.ndarray:
    """Indices of the rows whose ``column`` equals ``value`` (none if the column is absent)."""
    if column not in table.column_names:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.array([v == value for v in table.column(column).to_pylist()], dtype=bool))


def by_score(table: pa.Table, rows: np.ndarray, column: str, *, descending: bool = True) -> np.ndarray:
    """``rows`` ordered by a float column (nulls last)."""
    vals = np.array([np.nan if v is None else v for v in table.column(column).to_pylist()], float)[rows]
    key = np.where(np.isnan(vals), -np.inf if descending else np.inf, vals)
    order = np.argsort(-key if descending else key, kind="stable")
    return rows[order]
