"""The split section of ``report.html``: rows per fold and class, and the family (group) check recomputed
from the split's manifest.

Reads the stage's ``report.json`` metrics and manifest; a key an older run lacks shows as missing
rather than raising.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.report.blocks import html_table
from dcai.report.charts import grouped_bars
from dcai.report.stage_data import class_counts, report_dict, stage_manifest
from dcai.split.split import families

MAX_STRADDLING = 10  # families listed when the group check fails


def straddling(table: pa.Table, group_column: str | None) -> tuple[int, int, list[list]]:
    """Families (parent links and shared ``group_column`` values) across train, val and test:
    ``(families checked, families straddling, examples [[family, splits, ids]])``."""
    groups = (
        table.column(group_column).to_pylist()
        if group_column and group_column in table.column_names
        else None
    )
    fam = families(manifest.column(table, "id"), manifest.column(table, "parent"), groups)
    split = manifest.column(table, "split")
    ids = manifest.column(table, "id")
    inside = np.isin(split, (manifest.TRAIN, manifest.VAL, manifest.TEST))
    seen: dict[int, set[str]] = {}
    for f, s in zip(fam[inside].tolist(), split[inside].tolist()):
        seen.setdefault(f, set()).add(s)
    bad = sorted(f for f, s in seen.items() if len(s) > 1)
    examples = [
        [f, ", ".join(sorted(seen[f])), ", ".join(map(str, ids[fam == f][:6]))] for f in bad[:MAX_STRADDLING]
    ]
    return len(seen), len(bad), examples


def _fold_counts(table: pa.Table | None, report: dict) -> tuple[dict[str, dict[str, int]], int | None]:
    """``{fold name: {class: n}}`` of the train/val rows, and the test count (``None`` if unknown)."""
    val_fold = report.get("val_fold")
    if table is not None and "fold" in table.column_names:
        split = manifest.column(table, "split")
        keep = np.isin(split, (manifest.TRAIN, manifest.VAL))
        folds = table.column("fold").to_pylist()
        labels = manifest.column(table, "label")
        out: dict[str, dict[str, int]] = {}
        for k in sorted({int(f) for f, m in zip(folds, keep) if m and f is not None}):
            mask = keep & np.array([f == k for f in folds], dtype=bool)
            out[_fold_name(k, val_fold)] = dict(Counter(str(x) for x in labels[mask]))
        return out, int((split == manifest.TEST).sum())
    per_fold = report_dict(report, "per_fold")
    out = {
        _fold_name(int(k), val_fold): dict(v)
        for k, v in per_fold.items()
        if str(k).isdigit() and isinstance(v, dict)
    }
    test = report_dict(report, "counts").get(manifest.TEST)
    return out, sum(test.values()) if isinstance(test, dict) else None


def _fold_name(k: int, val_fold) -> str:
    return f"fold {k} (val)" if k == val_fold else f"fold {k}"


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for ``NN-split``: rows per fold and class, the test count, what moved, and the group check."""
    table = stage_manifest(stage_dir)
    per_fold, n_test = _fold_counts(table, report)
    test_counts = class_counts(table, (manifest.TEST,)) if table is not None else {}
    labels = sorted({c for d in per_fold.values() for c in d} | set(test_counts))
    parts = [
        f"<h2>Split: {report.get('n_folds', '?')} folds, fold {report.get('val_fold', '?')} is val</h2>",
        f"<p>Test: {n_test if n_test is not None else '?'} images "
        f"(test fraction {report.get('test_fraction', '?')}; {report.get('pulled_to_test', 0)} pulled into "
        f"test because their family already had a test image). {report.get('families', '?')} families in "
        f"the pool, the largest {report.get('largest_family', '?')} images.</p>",
    ]
    if per_fold and labels:
        rows = [[name, *[d.get(c, 0) for c in labels], sum(d.values())] for name, d in per_fold.items()]
        if test_counts:
            rows.append(["test", *[test_counts.get(c, 0) for c in labels], sum(test_counts.values())])
        series: dict[str, list[float]] = {n: [d.get(c, 0) for c in labels] for n, d in per_fold.items()}
        if test_counts:
            series["test"] = [test_counts.get(c, 0) for c in labels]
        parts.append(grouped_bars(labels, series, title="images per class and fold"))
        parts.append(html_table(["fold", *labels, "total"], rows))
    else:
        parts.append("<p class='muted'>no fold counts recorded</p>")
    moved = report.get("moved")
    if isinstance(moved, dict) and moved:
        parts.append(html_table(["moved into", "images"], [[k, v] for k, v in sorted(moved.items())]))
    grouped_by = report.get("grouped_by")
    linked = "parent links" + (f" and shared {grouped_by}" if grouped_by else "")
    if table is None:
        parts.append("<p class='muted'>group check: no manifest to check</p>")
    else:
        checked, bad, examples = straddling(table, grouped_by)
        if bad:
            parts.append(
                f"<p><b>Group check FAILED</b>: {bad} of {checked} families ({escape(linked)}) straddle "
                "train, val and test.</p>"
            )
            parts.append(html_table(["family", "splits", "ids"], examples))
        else:
            parts.append(
                f"<p>Group check passed: 0 of {checked} families ({escape(linked)}) straddle train, val "
                "and test.</p>"
            )
    return "".join(parts)
