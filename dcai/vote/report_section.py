"""The vote section of ``report.html``: member accuracies and galleries of noisy and ambiguous images."""

from __future__ import annotations

from pathlib import Path

from dcai.report.blocks import html_table
from dcai.review.gallery import by_score, gallery, rows_where, stage_table
from dcai.vote import rounds as vr


def render_section(run_dir: Path, stage_dir: Path, report: dict) -> str:
    accs = report.get("member_oof_accuracy", {})
    rows = [[m, f"{a:.3f}"] for m, a in accs.items()]
    rows.append(["ensemble", f"{report.get('ensemble_oof_accuracy', float('nan')):.3f}"])
    per_round = report.get("rounds", [])
    rounds = ""
    if len(per_round) > 1:  # round r > 1 trained without (or relabelled) round r - 1's noisy rows
        rounds = (
            "<h3>Rounds: each refits the fold models without the last round's noisy images; "
            f"the flags read {vr.scoring(report.get('config', {}))}</h3>"
        )
        rounds += html_table(
            ["round", "images trained on", "relabelled", "noisy", "ambiguous", "ensemble accuracy", "seconds"],
            [[x["round"], x["trained_on"], x.get("relabelled", 0), x["noisy"], x["ambiguous"],
              f"{x['ensemble_oof_accuracy']:.3f}", f"{x['seconds']:.0f}"] for x in per_round],
        )  # fmt: skip
    t = stage_table(stage_dir)
    noisy = by_score(t, rows_where(t, "vote_noisy"), "vote_top_prob")
    ambiguous = by_score(t, rows_where(t, "vote_ambiguous"), "vote_entropy")
    return (
        "<h2>Vote: five-model out-of-fold ensemble</h2>"
        f"<p>{report.get('rows_voted', 0)} images, {len(report.get('trials', []))} trials in "
        f"{report.get('fan_out_seconds', 0):.0f} s.</p>"
        + html_table(["member", "out-of-fold accuracy vs given labels"], rows)
        + rounds
        + f"<h3>Noisy: the ensemble prefers another label ({len(noisy)})</h3>"
        + gallery(t, noisy, score="vote_top_prob", suggested="vote_top_label")
        + f"<h3>Ambiguous: high entropy or low top probability ({len(ambiguous)})</h3>"
        + gallery(t, ambiguous, score="vote_entropy", suggested="vote_top_label")
    )
