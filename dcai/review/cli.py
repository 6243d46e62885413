"""``dcai review --run RUN``: show the queue, copy it out as CSV, import decisions into the run; or serve the
review app (``--serve``), lay out its embedding map (``--map``) and apply its decision log (``--apply``)."""

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
    app = parser.add_argument_group("the review app (a browser)")
    app.add_argument("--serve", action="store_true", help="serve the review app and print its URL")
    app.add_argument(
        "--host", default="127.0.0.1", help="bind address; any but loopback needs the printed token"
    )
    app.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    app.add_argument("--reviewer", default=None, help="name written with each decision (default: $USER)")
    app.add_argument("--map", action="store_true", help="lay out the embedding map (UMAP) into the run")
    app.add_argument(
        "--apply", action="store_true", help="apply the review app's decision log as a new review stage"
    )


def from_args(args: argparse.Namespace) -> Call:
    return Call(
        {},
        {"decisions_csv": args.import_csv, "truth_csv": args.simulate_reviewer, "apply_log": args.apply},
    )


def show_queue(args: argparse.Namespace) -> dict | None:
    """Without --import, --apply or --simulate-reviewer: where the queue is and how much waits, or the
    review app (--serve, --map); no stage runs."""
    from dcai.review import queue as q

    if args.import_csv or args.simulate_reviewer or args.apply:
        return None
    if args.map or args.serve:
        return app(args)
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


def app(args: argparse.Namespace) -> dict:
    """``--map`` lays out the map; ``--serve`` serves until stopped (after the map, when both are given)."""
    from dcai.review.runfs import RunFS

    report: dict = {}
    if args.map:
        from dcai.review.mapping import build_map

        report = build_map(RunFS(args.run))
        print(f"map: {report['points']} images ({report['flagged']} flagged) laid out in {report['map']}")
    if args.serve:
        from dcai.review.serve import serve

        serve(args.run, host=args.host, port=args.port, reviewer=args.reviewer)
    return report


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
    help="review the queue in the browser (--serve) or as CSV; apply the decisions",
    config=ReviewConfig,
    run=lazy("dcai.review.pipeline:run"),
    arguments=add_arguments,
    from_args=from_args,
    pipeline=None,  # a person's step: decisions come from a file given on the command line
    summary=summary,
    shortcut=show_queue,
)
