"""Build ``RUN_DIR/report.html``: one self-contained page (inline CSS, SVG and base64 thumbnails).

Core sections: stage timings, counts per split and class, quarantined and converted files. Every
stage may contribute a section: its ``Stage.section`` (:mod:`dcai.stages`), a function
``(run_dir: Path, stage_dir: Path, report: dict) -> str`` returning an HTML fragment.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path

import pyarrow.compute as pc

from dcai import manifest, storage
from dcai.report.blocks import html_table, thumbnail_img
from dcai.report.charts import grouped_bars
from dcai.runs import REPORT, Run
from dcai.stages import BY_NAME
from dcai.storage import AnyPath, UriPath

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}
th{background:#f4f4f4}h2{border-bottom:1px solid #ddd;margin-top:2em}.thumbs{display:flex;flex-wrap:wrap;gap:8px}
.thumb{border:1px solid #ddd;padding:4px;font-size:11px;width:150px;word-break:break-all}
.thumb img{image-rendering:pixelated;max-width:140px;max-height:96px;display:block;margin:auto}.muted{color:#777}
.warn{border:2px solid #c00;background:#fff0f0;padding:0 1em;margin:1em 0}.warn h2{color:#c00;border:none}
"""


def _stages_section(run: Run) -> str:
    rows = []
    for number, name, path in run.stages():
        rep = json.loads((path / REPORT).read_text())
        started = dt.datetime.fromtimestamp(rep.get("started", 0)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append([f"{number:02d}", name, f"{rep.get('seconds', 0):.1f}", rep.get("rows", ""), started])
    total = sum(float(r[2]) for r in rows)
    return (
        "<h2>Stages</h2>"
        + html_table(["#", "stage", "seconds", "rows", "started"], rows)
        + f"<p>total {total:.1f} s</p>"
    )


def _warnings_section(run: Run) -> str:
    """Every stage's ``warnings`` (export: an empty split, a class without images), at the top."""
    found = [(name, w) for _, name, path in run.stages() for w in run.report(name).get("warnings") or []]
    if not found:
        return ""
    items = "".join(f"<li><b>{escape(name)}</b>: {escape(str(w))}</li>" for name, w in found)
    return f"<div class='warn'><h2>Warnings</h2><ul>{items}</ul></div>"


def _counts_section(table) -> str:
    counts = manifest.counts(table)
    labels = sorted({lab for d in counts.values() for lab in d})
    splits = sorted(counts)
    chart = grouped_bars(
        labels,
        {s: [counts[s].get(lab, 0) for lab in labels] for s in splits},
        title="images per class and split",
    )
    rows = [[s, *[counts[s].get(lab, 0) for lab in labels], sum(counts[s].values())] for s in splits]
    return "<h2>Counts per split and class</h2>" + chart + html_table(["split", *labels, "total"], rows)


def _gallery(items: list[tuple[str, str]], limit: int = 60) -> str:
    """``[(uri, caption_html)]`` as thumbnails with captions."""
    cells = [f'<div class="thumb">{thumbnail_img(u)}{c}</div>' for u, c in items[:limit]]
    more = f"<p class='muted'>… and {len(items) - limit} more</p>" if len(items) > limit else ""
    return f'<div class="thumbs">{"".join(cells)}</div>{more}'


def _quarantine_section(table) -> str:
    q = table.filter(pc.equal(table.column("split"), manifest.QUARANTINE))
    conv = table.filter(pc.is_valid(table.column("note")))
    out = [f"<h2>Quarantined files ({q.num_rows})</h2>"]
    if q.num_rows:
        items = [
            (u, f"<b>{escape(r or '')}</b><br>{escape(u)}")
            for u, r in zip(q.column("source_uri").to_pylist(), q.column("reason").to_pylist())
        ]
        out.append(_gallery(items, limit=200))
    else:
        out.append("<p>None: every file decoded.</p>")
    out.append(f"<h2>Converted files ({conv.num_rows})</h2>")
    if conv.num_rows:
        rows = [
            [u, n] for u, n in zip(conv.column("source_uri").to_pylist(), conv.column("note").to_pylist())
        ]
        out.append(html_table(["file", "conversion"], rows[:500]))
    return "".join(out)


def _generic_section(name: str, report: dict) -> str:
    """Scalar metrics of a stage that has no renderer of its own."""
    skip = {"stage", "number", "key", "input", "config", "started", "seconds", "rows", "counts"}
    rows = [[k, v] for k, v in report.items() if k not in skip and isinstance(v, (int, float, str, bool))]
    return f"<h2>{escape(name)}</h2>" + (
        html_table(["metric", "value"], rows) if rows else "<p class='muted'>no metrics</p>"
    )


def _stage_section(run: Run, name: str, path: AnyPath) -> str:
    report = json.loads((path / REPORT).read_text())
    stage = BY_NAME.get(name)
    if stage is not None and stage.section is not None:
        return stage.section(run.root, path, report)
    return _generic_section(name, report)


def _ablation_section(run: Run) -> str:
    """``dcai pipeline --ablate``'s table, when this is the full run of an ablation."""
    path = run.root / "ablation.json"
    if not path.exists():
        return ""
    rows = []
    for r in json.loads(path.read_text())["rows"]:
        added = r.get("stage_added")
        rows.append([r["variant"], r["test"], f"{100 * r['mean']:.1f}% ± {100 * r['std']:.1f}",
                     "" if added is None else f"{100 * added[0]:+.1f} ± {100 * added[1]:.1f}"])  # fmt: skip
    return (
        "<h2>What each stage added (--ablate)</h2><p>Each variant leaves one stage out; the fixed model is "
        "trained with the same seeds, so the difference with the full pipeline is paired per seed.</p>"
        + html_table(["variant", "test set", "accuracy", "the stage added (points)"], rows)
    )


def _map_section(run: Run) -> str:
    """The embedding map ``dcai review --map`` cached in the run, as a picture (the train-vs-val style check)."""
    if not (run.root / "review-app" / "map.parquet").exists():
        return ""
    from dcai.review import mapping
    from dcai.review.runfs import RunFS

    return (
        "<h2>Embedding map</h2><p class='muted'>UMAP of "
        + escape(mapping.FEATURES)
        + "; coloured by split. Points far from the rest, or a split off on its own, are worth a look "
        "(<code>dcai review --serve</code> opens it interactively).</p>" + mapping.svg(RunFS(str(run.root)))
    )


def build(run_dir: str | Path | UriPath) -> str:
    run = Run(run_dir)
    table = run.manifest()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>dcai report: {escape(run.root.name)}</title>",
        f"<style>{CSS}</style></head><body><h1>dcai report: {escape(run.root.name)}</h1>",
        f"<p class='muted'>{escape(str(run.root))} · generated {dt.datetime.now():%Y-%m-%d %H:%M}</p>",
        _warnings_section(run),
        _stages_section(run),
        _counts_section(table),
        _quarantine_section(table),
        _ablation_section(run),
        _map_section(run),
    ]
    for _, name, path in run.stages():
        if name != "ingest":
            parts.append(_stage_section(run, name, path))
    parts.append("</body></html>")
    return "".join(parts)


def write_report(run_dir: str | Path) -> AnyPath:
    """Write ``RUN_DIR/report.html`` atomically (local or object storage) and return its path."""
    run = Run(run_dir)
    html = build(run.root)
    out = run.root / "report.html"
    storage.write_file(str(out), html.encode())
    return out
