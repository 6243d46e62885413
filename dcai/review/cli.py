"""``dcai review --run RUN``: show the queue, copy it out as CSV, or import decisions into the run."""

from __future__ import annotations

import argparse
import shutil

from dcai.review.config import ReviewConfig
from dcai.stage import Call, Stage, lazy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", metavar="FILE.csv", help="copy the current queue to this CSV (a spreadsheet)"
    )
    parser.add_argument(
        "--import",
        dest="import_csv",
        metavar="DECISIONS.csv",
        help="apply decisions: columns id or path, decision (keep | relabel:<label> | remove)",
    )
    parser.add_argument(
        "--simulate-reviewer",
        metavar="TRUTH.csv",
        help="answer queue items from a truth file (dcai synth truth.csv or a reviewed sample)",
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call({}, {"decisions_csv": args.import_csv, "truth_csv": args.simulate_reviewer})


def show_queue(args: argparse.Namespace) -> dict | None:
    """Without --import or --simulate-reviewer: where the queue is and how much waits (no stage runs)."""
    from dcai.review import queue as q

    if args.import_csv or args.simulate_reviewer:
        return None
    path = q.find_queue(args.run)
    if path is None:
        print(f"{args.run}: no review queue yet (investigate, vote and clean write one)")
        return {"queue": None, "pending": 0}
    queue = q.read_queue(path)
    pending = sum(1 for d in queue.column("decision").to_pylist() if not d)
    csv_path = path.with_name(q.QUEUE_CSV)
    if args.out:
        shutil.copyfile(csv_path, args.out)
        csv_path = args.out
    print(f"{pending} image(s) waiting for review in {csv_path}; fill 'decision' and run --import")
    return {"queue": str(path), "csv": str(csv_path), "pending": pending}


def summary(report: dict) -> str:
    d = report.get("decisions", {})
    line = ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"
    sugg = (
        f"; suggested label right {report['suggestions_right']}/{report['suggestions_checked']}"
        if report.get("suggestions_checked")
        else ""
    )
    return (
        f"{report['answered_now']} new decision(s) from {report['source']}; {report['answered']} in all "
        f"({line}){sugg}; {report['left_in_queue']} left in the queue"
    )


STAGE = Stage(
    name="review",
    help="export / import the review queue as CSV",
    config=ReviewConfig,
    run=lazy("dcai.review.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=None,  # a person's step: decisions come from a file given on the command line
    summary=summary,
    shortcut=show_queue,
)
