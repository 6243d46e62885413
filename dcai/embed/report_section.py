"""The embed section of ``report.html``: kNN agreement, images whose neighbours disagree, each shown with
its neighbours, and the most isolated images (edge cases)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dcai import manifest
from dcai.report.blocks import html_table
from dcai.review.gallery import by_score, gallery, rows_where, stage_table

SHOWN = 12  # flagged images shown with their neighbours


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    t = stage_table(stage_dir)
    noisy = by_score(t, rows_where(t, "embed_noisy"), "embed_top_share")
    isolated = by_score(t, rows_where(t, "embed_isolated"), "embed_isolation")
    parts = [
        "<h2>Embed: supervised-contrastive neighbours (out of fold)</h2>",
        html_table(
            ["images", "kNN agrees with given label", "neighbours disagree", "isolated", "search"],
            [
                [
                    report.get("rows_embedded", 0),
                    f"{report.get('knn_agreement', float('nan')):.3f}",
                    report.get("noisy", 0),
                    report.get("isolated", 0),
                    report.get("search", ""),
                ]
            ],
        ),  # fmt: skip
        f"<h3>Neighbours disagree with the given label ({len(noisy)}): each image, then its neighbours</h3>",
    ]
    path = Path(stage_dir) / "vectors.npz"
    if path.exists() and len(noisy):
        with np.load(io.BytesIO(path.read_bytes())) as z:
            ids, nbrs = z["ids"], z["neighbours"]
        row_of = {rid: i for i, rid in enumerate(manifest.column(t, "id").astype(str))}
        at = {rid: j for j, rid in enumerate(ids)}
        for i in noisy[:SHOWN]:
            j = at.get(str(manifest.column(t, "id")[i]))
            if j is None:
                continue
            shown = [i] + [row_of[ids[n]] for n in nbrs[j] if n >= 0 and ids[n] in row_of]
            parts.append(gallery(t, np.asarray(shown), suggested="embed_top_label", limit=len(shown)))
    elif not len(noisy):
        parts.append("<p class='muted'>none</p>")
    parts.append(f"<h3>Isolated: far from every neighbour, edge cases ({len(isolated)})</h3>")
    parts.append(gallery(t, isolated, score="embed_isolation"))
    return "".join(parts)
