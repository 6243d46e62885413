"""``dcai review --run RUN``: show the queue, copy it out as CSV, or import decisions into the run."""

from __future__ import annotations

import argparse
import shutil

NEEDS_RUN = True


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


def main(args: argparse.Namespace) -> dict:
    from dcai.cli import stage_config
    from dcai.review import queue as q
    from dcai.review.config import ReviewConfig
    from dcai.review.pipeline import run, summary

    cfg = stage_config(ReviewConfig, args, "review")
    if args.import_csv or args.simulate_reviewer:
        report, ran = run(
            args.run, cfg, decisions_csv=args.import_csv, truth_csv=args.simulate_reviewer, force=args.force
        )
        print(summary(report) + ("" if ran else " (up to date: already applied)"))
        return report
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
