"""The balance and split sections of ``report.html``: class counts before and after, surplus per origin,
rows per fold and class, and the family (group) check recomputed from the split's manifest.

Each renderer reads its stage's ``report.json`` metrics and manifests; a key an older run lacks shows as
missing rather than raising.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.report.charts import grouped_bars
from dcai.report.html import html_table
from dcai.runs import MANIFEST, Run

POOL = ("train", "val")  # balance's and split's default pool when the report has no config
MAX_STRADDLING = 10  # families listed when the group check fails


def stage_manifest(stage_dir: Path) -> pa.Table | None:
    """The stage's own manifest, or ``None`` when it is missing or unreadable (a report must still render)."""
    try:
        return manifest.read(Path(stage_dir) / MANIFEST)
    except (OSError, manifest.ManifestError):
        return None


def previous_manifest(run_dir: Path, stage_dir: Path, report: dict) -> pa.Table | None:
    """The manifest the stage read: the complete stage numbered just before it, else the report's ``input``."""
    path: Path | None = None
    try:
        number = int(Path(stage_dir).name[:2])
        before = [p for n, _, p in Run(run_dir).stages() if n < number]
        path = before[-1] / MANIFEST if before else None
    except (ValueError, OSError):
        path = None
    if path is None and report.get("input"):
        path = Path(report["input"])
    if path is None:
        return None
    try:
        return manifest.read(path)
    except (OSError, manifest.ManifestError):
        return None


def class_counts(table: pa.Table | None, splits: tuple[str, ...]) -> dict[str, int]:
    """``{label: n}`` over the rows of ``splits`` (labelled rows only)."""
    if table is None or not table.num_rows:
        return {}
    mask = np.isin(manifest.column(table, "split"), splits)
    return dict(Counter(str(x) for x in manifest.column(table, "label")[mask] if x is not None))


def _dict(report: dict, key: str) -> dict:
    """``report[key]`` if it is a dict (older runs may lack it), else ``{}``."""
    value = report.get(key)
    return value if isinstance(value, dict) else {}


def _pool(report: dict) -> tuple[str, ...]:
    cfg = report.get("config")
    pool = cfg.get("pool_splits") if isinstance(cfg, dict) else None
    return tuple(pool) if pool else POOL


def _per_origin(before: pa.Table | None, after: pa.Table | None, pool: tuple[str, ...]) -> list[list]:
    """Rows ``[origin, kept in pool, moved to surplus, back from surplus]`` by comparing the manifests."""
    if after is None:
        return []
    split_after = dict(zip(after.column("id").to_pylist(), after.column("split").to_pylist()))
    origin = dict(zip(after.column("id").to_pylist(), after.column("origin").to_pylist()))
    if before is not None:
        split_before = dict(zip(before.column("id").to_pylist(), before.column("split").to_pylist()))
    else:  # no input manifest: fall back on the reason balance writes on the rows it moves
        from dcai.shape.balance import BACK, OVER

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


def render_balance(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for ``NN-balance``: budget, class counts before and after (bars and table), moves per origin."""
    pool = _pool(report)
    before_table = previous_manifest(run_dir, stage_dir, report)
    after_table = stage_manifest(stage_dir)
    before = class_counts(before_table, pool)
    after = class_counts(after_table, pool) or _dict(report, "kept_per_class")
    available, quota = _dict(report, "available"), _dict(report, "quota")
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


def straddling(table: pa.Table, group_column: str | None) -> tuple[int, int, list[list]]:
    """Families (parent links and shared ``group_column`` values) across train, val and test:
    ``(families checked, families straddling, examples [[family, splits, ids]])``."""
    from dcai.shape.split import families

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
    per_fold = _dict(report, "per_fold")
    out = {
        _fold_name(int(k), val_fold): dict(v)
        for k, v in per_fold.items()
        if str(k).isdigit() and isinstance(v, dict)
    }
    test = _dict(report, "counts").get(manifest.TEST)
    return out, sum(test.values()) if isinstance(test, dict) else None


def _fold_name(k: int, val_fold) -> str:
    return f"fold {k} (val)" if k == val_fold else f"fold {k}"


def render_split(run_dir: Path, stage_dir: Path, report: dict) -> str:
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
