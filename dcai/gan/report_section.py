"""The gan section of ``report.html``: the chosen (γ, δ), a grid of generated images per class with what
the fixed model and the validity classifier called each, the search's trials, the training losses."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from dcai.report.blocks import Markup, html_table, thumbnail_img
from dcai.report.charts import line_chart

STYLE = (
    "<style>.gan-grid td{vertical-align:top}.gan-cell{display:inline-block;margin:2px;font-size:10px;"
    "text-align:center;width:70px}.gan-cell img{image-rendering:pixelated;width:64px}"
    ".gan-cell.rejected{opacity:.55}</style>"
)


def _grid(stage_dir: Path, report: dict) -> str:
    examples = report.get("examples") or []
    if not examples:
        return "<p class='muted'>no images drawn</p>"
    by_class: dict[str, list[dict]] = {}
    for e in examples:
        by_class.setdefault(str(e["class"]), []).append(e)
    rows = []
    for cls in report.get("classes") or sorted(by_class):
        cells = []
        for e in by_class.get(str(cls), []):
            kept = e["status"] == "kept"
            tip = escape(str(e["status"]))
            cells.append(
                f"<div class='gan-cell{'' if kept else ' rejected'}' title='{tip}'>"
                f"{thumbnail_img(str(stage_dir / e['file']), size=64)}<br>fixed: {escape(str(e['fixed_read']))}"
                f"<br>validity: {escape(str(e['validity_read']))}{'' if kept else '<br>rejected'}</div>"
            )
        tally = (report.get("per_class") or {}).get(str(cls), {})
        counts = ", ".join(f"{v} {k}" for k, v in tally.items())
        rows.append([cls, Markup("".join(cells)), counts])
    return (
        "<div class='gan-grid'>"
        + html_table(["generated as", "images (faded: rejected)", "drawn"], rows)
        + "</div>"
    )


def _search(report: dict) -> str:
    found = report.get("search")
    if not found:
        return ""
    trials = found.get("trials") or []
    chart = line_chart(
        {
            f"trial {t['trial']}{' (stopped)' if t['stopped_early'] else ''}": [
                (i + 1, g) for i, g in enumerate(t["gain"])
            ]
            for t in trials
        },
        title="val accuracy with the trial's GAN images minus with as many ordinary augmented images",
        xlabel="epoch",
        ylabel="gain",
        width=640,
    )
    names = sorted({k for t in trials for k in t["params"]})
    table = html_table(
        ["trial", "final gain", "epochs", "kept", "drawn", "invalid", *names],
        [
            [t["trial"], t["best"], t["epochs_run"], t["kept"], t["drawn"], t["invalid"],
             *[t["params"].get(n, "") for n in names]]
            for t in trials
        ],
    )  # fmt: skip
    return (
        f"<h3>Search ({len(trials)} trials, ASHA on the gain)</h3>{chart}{table}"
        f"<p>Winner: trial {found.get('best_trial')} <code>{escape(json.dumps(found.get('best_params'), sort_keys=True))}</code>,"
        f" gain {found.get('best_gain')}.</p>"
    )


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    """HTML for one ``NN-gan`` stage from its ``report.json``."""
    s = report.get("settings") or {}
    parts = [f"<h2>{escape(stage_dir.name)}: GAN images (the paper's section 4)</h2>", STYLE]
    parts.append(
        f"<p>Chosen γ = {s.get('gamma_max')} (cap {s.get('gamma_cap')}, raised over {s.get('ramp')} of the "
        f"iterations), δ = {s.get('delta')}; {s.get('iterations')} iterations, batch {s.get('batch_size')}, "
        f"lr {s.get('lr')}; {s.get('per_class')} images per class asked. Frozen classifier val accuracy "
        f"{report.get('classifier_val_acc')}.</p>"
    )
    if report.get("skipped"):
        parts.append(f"<p>No images added: {escape(str(report['skipped']))}.</p>")
    else:
        parts.append(
            f"<p>{report.get('added_total', 0)} images added of {report.get('drawn')} drawn; validity rejection rate "
            f"{report.get('validity_rejection_rate')}, duplicates {report.get('duplicate_rate')}; the fixed model reads "
            f"{report.get('fixed_acc_drawn')} of the drawn and {report.get('fixed_acc_kept')} of the kept images as "
            "their class (low: hard examples, the paper's aim).</p>"
        )
    parts.append("<h3>Generated images per class</h3>")
    parts.append(_grid(stage_dir, report))
    parts.append(_search(report))
    history = report.get("history") or []
    if history:
        parts.append(
            line_chart(
                {k: [(h["step"], h[k]) for h in history] for k in ("loss_d", "loss_g", "cce", "class_acc")},
                title="training: discriminator and generator loss, classifier CE and accuracy on the fakes",
                xlabel="iteration",
                width=640,
            )
        )
    return "".join(parts)
