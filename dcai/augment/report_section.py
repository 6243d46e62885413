"""The augment section of ``report.html``: images added per source and class (table and bars), samples
of each source as parent → new image side by side, and rejected examples with their reasons.

Counts come from the stage's ``report.json`` (see :func:`dcai.augment.pipeline.augment_table`); samples
from its manifest: the rows the stage added, found by comparing with the manifest it read.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pyarrow as pa

from dcai.report.blocks import html_table, thumbnail_img
from dcai.report.charts import grouped_bars
from dcai.report.stage_data import previous_manifest, stage_manifest

MAX_SAMPLES = 6  # parent → new pairs shown per origin
MAX_REJECTED = 20  # augment_table keeps at most 20 examples anyway
STYLE = (
    "<style>.aug-pairs{display:flex;flex-wrap:wrap;gap:8px}.aug-pair{border:1px solid #ddd;padding:4px;"
    "font-size:11px;max-width:260px}.aug-pair .imgs{display:flex;align-items:center;gap:4px}"
    ".aug-pair img{image-rendering:pixelated;max-width:110px;max-height:80px}</style>"
)


def _nested(report: dict, key: str) -> dict[str, dict[str, int]]:
    """``report[key]`` as ``{source: {class: n}}``; anything else (missing, older shape) as empty."""
    value = report.get(key)
    if not isinstance(value, dict):
        return {}
    return {
        str(s): {str(c): int(n) for c, n in v.items() if isinstance(n, (int, float))}
        for s, v in value.items()
        if isinstance(v, dict)
    }


def _counts_table(report: dict) -> tuple[str, list[str], list[str]]:
    """The source × class table of added images, with planned / rejected / failed alongside."""
    added, rejected, failed = (_nested(report, k) for k in ("added", "rejected", "failed"))
    planned = _nested(report, "planned")
    tallies = (added, rejected, failed, planned)
    sources = sorted({s for t in tallies for s, d in t.items() if any(d.values())})
    classes = [str(c) for c in report.get("classes", []) or []]
    classes += sorted({c for t in tallies for d in t.values() for c in d} - set(classes))
    rows = []
    for s in sources:

        def cell(c: str, s: str = s) -> str:
            text = str(added.get(s, {}).get(c, 0))
            extra = [
                f"{t.get(s, {}).get(c, 0)} {name}"
                for t, name in ((rejected, "rejected"), (failed, "failed"))
                if t.get(s, {}).get(c, 0)
            ]
            return text + (f" ({', '.join(extra)})" if extra else "")

        rows.append(
            [
                s,
                *[cell(c) for c in classes],
                sum(added.get(s, {}).values()),
                sum(planned.get(s, {}).values()) if s in planned else "-",
                sum(rejected.get(s, {}).values()),
                sum(failed.get(s, {}).values()),
            ]
        )
    if not rows:
        return "<p class='muted'>no images added</p>", sources, classes
    headers = ["source", *classes, "added", "planned", "rejected", "failed"]
    return html_table(headers, rows), sources, classes


def _new_rows(run_dir: Path, stage_dir: Path, report: dict) -> tuple[pa.Table | None, list[dict]]:
    """The stage's manifest and its rows this stage added (ids not in the manifest it read)."""
    table = stage_manifest(stage_dir)
    if table is None:
        return None, []
    before = previous_manifest(run_dir, stage_dir, report)
    old = set(before.column("id").to_pylist()) if before is not None else set()
    rows = table.select(["id", "uri", "label", "origin", "parent", "reason"]).to_pylist()
    if before is None:  # no input to compare with: derived rows that name their parent
        return table, [r for r in rows if r["parent"] is not None and r["origin"] != "original"]
    return table, [r for r in rows if r["id"] not in old]


def _samples(run_dir: Path, stage_dir: Path, report: dict) -> str:
    table, new = _new_rows(run_dir, stage_dir, report)
    if table is None:
        return "<p class='muted'>no manifest to take samples from</p>"
    if not new:
        return "<p class='muted'>no new rows in the manifest</p>"
    parent = dict(
        zip(
            table.column("id").to_pylist(),
            zip(table.column("uri").to_pylist(), table.column("label").to_pylist()),
        )
    )
    by_origin: dict[str, list[dict]] = {}
    for r in new:
        by_origin.setdefault(str(r["origin"]), []).append(r)
    parts = []
    for origin, rows in sorted(by_origin.items()):
        cells = []
        for r in rows[:MAX_SAMPLES]:
            p_uri, p_label = parent.get(r["parent"], (None, None))
            left = thumbnail_img(p_uri, size=64) if p_uri else "<div class='muted'>(parent?)</div>"
            how = str(r["reason"] or "").removeprefix("augment: ")
            cells.append(
                f"<div class='aug-pair'><div class='imgs'>{left}<span>→</span>"
                f"{thumbnail_img(r['uri'], size=64)}</div>{escape(str(p_label))} → <b>{escape(str(r['label']))}"
                f"</b><br><span class='muted'>{escape(how)}</span></div>"
            )
        more = f" (showing {MAX_SAMPLES})" if len(rows) > MAX_SAMPLES else ""
        parts.append(
            f"<h4>{escape(origin)}: {len(rows)} new{more}</h4><div class='aug-pairs'>{''.join(cells)}</div>"
        )
    return "".join(parts)


def _rejected(report: dict) -> str:
    examples = report.get("rejected_examples") or []
    if not isinstance(examples, list) or not examples:
        return "<p class='muted'>none recorded</p>"
    items = "".join(f"<li>{escape(str(e).removeprefix('augment: '))}</li>" for e in examples[:MAX_REJECTED])
    return f"<ul>{items}</ul>"


def _tuned_from(value) -> str:
    if isinstance(value, dict):
        return "<p>Source counts tuned from:</p>" + html_table(
            ["key", "value"], [[k, v] for k, v in value.items()]
        )
    return f"<p>Source counts tuned from {escape(str(value))}.</p>"


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for one ``NN-augment`` stage from its ``report.json`` and manifest."""
    table, sources, classes = _counts_table(report)
    added = _nested(report, "added")
    summary = (
        f"<p>{report.get('added_total', sum(sum(d.values()) for d in added.values()))} images added from "
        f"{report.get('parents', '?')} parents"
    )
    if report.get("aspect_replaced"):
        summary += f"; {report['aspect_replaced']} too-long parents replaced by a square crop (source aspect)"
    if report.get("already_present"):
        summary += f"; {report['already_present']} already present from an earlier run"
    summary += ".</p>"
    parts = [f"<h2>Augment: {escape(stage_dir.name)}</h2>", STYLE, summary]
    if "tuned_from" in report:
        parts.append(_tuned_from(report["tuned_from"]))
    parts.append(table)
    if sources and classes and added:
        parts.append(
            grouped_bars(
                classes,
                {s: [added.get(s, {}).get(c, 0) for c in classes] for s in sources if s in added},
                title="images added per class and source",
            )
        )
    short = _nested(report, "short")
    if short:
        rows = [[s, c, n] for s, d in sorted(short.items()) for c, n in sorted(d.items())]
        parts.append("<h3>Planned short of the request (too few parents allow it)</h3>")
        parts.append(html_table(["source", "class", "missing"], rows))
    parts.append("<h3>Samples per source: parent → new image</h3>")
    parts.append(_samples(run_dir, stage_dir, report))
    n_rej = sum(sum(d.values()) for k in ("rejected", "failed") for d in _nested(report, k).values())
    parts.append(f"<h3>Rejected or failed ({n_rej})</h3>")
    parts.append(_rejected(report))
    refilled = report.get("refilled") or {}
    if refilled:
        parts.append(
            "<p>Made up by the unbounded sources for what the validity check turned away (counted in the "
            "table above), so each class still reaches its target: "
            + escape(", ".join(f"{c} {n}" for c, n in sorted(refilled.items())))
            + "</p>"
        )
    return "".join(parts)
