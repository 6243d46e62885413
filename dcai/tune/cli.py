"""``dcai tune --run RUN``: search the augmentation policy (Ray Tune trials scored by the fixed model)."""

from __future__ import annotations

import argparse
import json

from dcai.stage import Call, Stage, lazy
from dcai.tune.config import TuneConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("tune", "local"),
        default=None,
        help="tune: Ray Tune trials with ASHA; local: one after another in this process, no Ray",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({"backend": args.backend}, {})


def summary(report: dict) -> str:
    """A few lines for the terminal: each trial's best and status, the winner, the confirmation."""
    lines = [
        f"{len(report.get('trials', []))} trial(s) on {report.get('n_train')} train / "
        f"{report.get('n_val')} val images ({report.get('backend')})"
    ]
    for t in report.get("trials", []):
        status = f"stopped after {t['epochs_run']}" if t["stopped_early"] else f"{t['epochs_run']} epochs"
        lines.append(f"  trial {t['trial']:>3}: best val {t['best']}  ({status})")
    lines.append(
        f"best: trial {report.get('best_trial')} -> {json.dumps(report.get('best'), sort_keys=True)}"
    )
    c = report.get("confirm")
    if c:
        lines.append(
            f"confirmed over {c['epochs']} epochs: tuned {c['tuned_val_acc']}, baseline {c['baseline_val_acc']}"
        )
    return "\n".join(lines)


STAGE = Stage(
    name="tune",
    help="Ray Tune search over the augmentation policy",
    config=TuneConfig,
    run=lazy("dcai.tune.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    summary=summary,
    section=lazy("dcai.tune.report_section:render_section"),
)
