"""``NN-review``: apply decisions (a CSV, or a truth file answering the queue) to the manifest before it.

No Ray: decisions are a few thousand rows at most. Decisions accumulate in ``NN-review/decisions.csv``
(a later import adds to them, a repeated id takes the newest answer) and the unanswered rest of the
queue is written beside them, so the next ``dcai review`` continues where this one stopped.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pyarrow as pa

from dcai.errors import InputError
from dcai.review import decisions as dec
from dcai.review import queue as q
from dcai.review.config import ReviewConfig
from dcai.runs import Run, StageContext, StageOutput, file_hash

STAGE = "review"
DECISIONS_CSV = "decisions.csv"


def suggestion_hits(queue: pa.Table, answers: dict[str, dec.Decision]) -> dict[str, int]:
    """How often the queue's suggested label was the reviewer's answer (removals not counted)."""
    sugg = dict(zip(queue.column("id").to_pylist(), queue.column("suggested_label").to_pylist()))
    label = dict(zip(queue.column("id").to_pylist(), queue.column("label").to_pylist()))
    hit = total = 0
    for rid, d in answers.items():
        if sugg.get(rid) and d.action != dec.REMOVE:
            total += 1
            hit += (d.label if d.action == dec.RELABEL else label[rid]) == sugg[rid]
    return {"suggestions_checked": total, "suggestions_right": hit}


def _read_prior(path: Path) -> dict[str, dec.Decision]:
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {r["id"]: dec.parse_decision(r["decision"]) for r in csv.DictReader(f)}


def run(
    run_dir: str,
    cfg: ReviewConfig,
    *,
    decisions_csv: str | None = None,
    truth_csv: str | None = None,
    force: bool = False,
) -> tuple[dict, bool]:
    """Apply decisions from ``decisions_csv``, or answer the queue from ``truth_csv``. Returns ``(report, ran)``."""
    if bool(decisions_csv) == bool(truth_csv):
        raise InputError(
            "review: give exactly one of --import DECISIONS.csv or --simulate-reviewer TRUTH.csv"
        )
    source = str(decisions_csv or truth_csv)
    if not Path(source).exists():
        raise InputError(f"{source}: file not found")
    the_run = Run(run_dir)
    existing = the_run.stage_dir(STAGE)
    number = int(existing.name[:2]) if existing else None
    queue_path = q.find_queue(the_run.root, before=number)
    prior = _read_prior(existing / DECISIONS_CSV) if existing else {}

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        queue = q.read_queue(queue_path) if queue_path else q.QUEUE_SCHEMA.empty_table()
        qids = queue.column("id").to_pylist()
        pending = [
            rid for rid, d in zip(qids, queue.column("decision").to_pylist()) if not d and rid not in prior
        ]
        if decisions_csv:
            new = dec.read_decisions(decisions_csv, table)
        else:
            ids = pending[: cfg.max_items] if cfg.max_items else pending
            new = dec.TruthReviewer.from_csv(str(truth_csv)).answer(table, ids)
        answers = {**prior, **new}
        table = dec.apply_decisions(table, answers, stage=STAGE)
        with open(ctx.workdir / DECISIONS_CSV, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "decision"])
            w.writerows([rid, str(d)] for rid, d in answers.items())
        left = queue.filter(pa.array([rid not in answers for rid in qids], pa.bool_()))
        q.write_queue(left, ctx.workdir)
        return StageOutput(
            table,
            {
                "source": source,
                "mode": "import" if decisions_csv else "simulated",
                "queue": str(queue_path) if queue_path else None,
                "queued": len(qids),
                "answered_now": len(new),
                "answered_from_queue": sum(rid in new for rid in pending),
                "answered": len(answers),
                "decisions": dict(Counter(d.action for d in answers.values())),
                "left_in_queue": left.num_rows,
                **suggestion_hits(queue, answers),
            },
        )

    key = [source, file_hash(Path(source)), sorted((k, str(v)) for k, v in prior.items())]
    _, report, ran = the_run.execute(STAGE, stage, config=cfg.to_dict(), extra_key=key, force=force)
    return report, ran
