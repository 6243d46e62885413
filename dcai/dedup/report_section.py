"""The dedup section of the run's HTML report: duplicate groups as thumbnails side by side, and the leakage table.

``render_section(run_dir, stage_dir, report)`` returns a self-contained HTML fragment (images inlined
as base64 PNG); the report module places it on the page.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from dcai import imaging

MAX_GROUPS = 40  # groups drawn; report.json lists more
MAX_MEMBERS = 8  # thumbnails per group


def _thumb(uri: str) -> str:
    try:
        png = imaging.thumbnail_png(imaging.load(uri), 64)
    except Exception:  # noqa: BLE001 - a moved or unreadable file must not break the whole report
        return '<span class="dedup-missing">missing</span>'
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _member(m: dict) -> str:
    status = "kept" if m.get("keeper") else ("removed" if m.get("removed") else "flagged")
    caption = f"{m['split']} / {m['label']}<br>{status}"
    return f'<figure class="dedup-{status}">{_thumb(m["uri"])}<figcaption>{html.escape(caption, quote=False).replace("&lt;br&gt;", "<br>")}</figcaption></figure>'


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML fragment: counts, the leakage table and up to ``MAX_GROUPS`` groups (conflicts and near first)."""
    k = report.get("groups_by_kind", {})
    leak = report.get("leakage", {"groups": 0, "by_splits": {}, "listed": []})
    parts = [
        '<section class="dedup"><h2>Duplicates</h2>',
        "<style>.dedup figure{display:inline-block;margin:2px;text-align:center;font-size:11px}"
        ".dedup .group{border:1px solid #ccc;margin:4px 0;padding:4px}.dedup .conflict{border-color:#c00}"
        ".dedup-removed img{opacity:.5}.dedup table{border-collapse:collapse}"
        ".dedup td,.dedup th{border:1px solid #ccc;padding:2px 6px}</style>",
        f"<p>{report.get('images', 0)} images; {report.get('groups', 0)} groups "
        f"({k.get('exact_bytes', 0)} byte-identical, {k.get('exact_pixels', 0)} pixel-identical, "
        f"{k.get('near', 0)} near); {report.get('removed', 0)} removed; "
        f"{report.get('conflict_groups', 0)} groups with conflicting labels flagged for review.</p>",
        f"<h3>Leakage: {leak['groups']} groups straddle splits</h3>",
        "<table><tr><th>splits</th><th>groups</th></tr>",
        *(f"<tr><td>{html.escape(s)}</td><td>{n}</td></tr>" for s, n in leak["by_splits"].items()),
        "</table>",
    ]
    if leak["listed"]:
        parts.append("<table><tr><th>group</th><th>kind</th><th>members (split / label)</th></tr>")
        for g in leak["listed"][:MAX_GROUPS]:
            members = ", ".join(f"{m['split']} / {m['label']}" for m in g["members"])
            parts.append(
                f"<tr><td>{html.escape(g['group'])}</td><td>{g['kind']}</td><td>{html.escape(members)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h3>Groups</h3>")
    for g in report.get("listed", [])[:MAX_GROUPS]:
        cls = "group conflict" if g["conflict"] else "group"
        head = f"{g['kind']}{' · labels disagree: review' if g['conflict'] else ''}"
        figures = "".join(_member(m) for m in g["members"][:MAX_MEMBERS])
        parts.append(f'<div class="{cls}"><div>{html.escape(head)}</div>{figures}</div>')
    parts.append("</section>")
    return "\n".join(parts)
