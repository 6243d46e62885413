"""``NN-review``: apply decisions (a CSV, the review app's decision log, or a truth file answering the
queue) to the manifest before it.

No Ray: decisions are a few thousand rows at most. Decisions accumulate in ``NN-review/decisions.csv``
(a later import adds to them, a repeated id takes the newest answer) and the unanswered rest of the
queue is written beside them, so the next ``dcai review`` continues where this one stopped. The log's
decisions are taken whole each time (``source=log`` in that file): an undo in the app takes one back.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pyarrow as pa

from dcai import manifest, storage
from dcai.errors import InputError
from dcai.review import decisions as dec
from dcai.review import log as rlog
from dcai.review import queue as q
from dcai.review.config import ReviewConfig
from dcai.review.runfs import RunFS
from dcai.runs import Run, StageContext, StageOutput, file_hash

STAGE = "review"
DECISIONS_CSV = "decisions.csv"
LOG_SOURCE = "log"  # decisions.csv's source of a decision taken from the review app's log


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


def _read_prior(path: Path, *, drop_log: bool = False) -> dict[str, dec.Decision]:
    """Decisions an earlier review stage applied; ``drop_log``: leave out those that came from the log."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {
            r["id"]: dec.parse_decision(r["decision"])
            for r in csv.DictReader(f)
            if not (drop_log and r.get("source") == LOG_SOURCE)
        }


def log_decisions(run: RunFS, table: pa.Table) -> tuple[dict[str, dec.Decision], dict[str, str]]:
    """The decision log's current decisions, checked against ``table``: ``({id: Decision}, {id: reviewer})``."""
    entries = rlog.read_log(run)
    answers = rlog.decisions(
        entries,
        known=set(manifest.column(table, "id").tolist()),
        classes={v for v in table.column("label").to_pylist() if v is not None},
        source=run.path(rlog.LOG),
    )
    current = rlog.fold(entries)
    return answers, {rid: str(current[rid].get("reviewer") or "") for rid in answers}


def apply_by_reviewer(
    table: pa.Table, answers: dict[str, dec.Decision], who: dict[str, str], *, stage: str
) -> pa.Table:
    """:func:`~dcai.review.decisions.apply_decisions`, the reviewer's name in each row's reason."""
    for name in sorted(set(who.values())):
        mine = {rid: d for rid, d in answers.items() if who[rid] == name}
        table = dec.apply_decisions(table, mine, stage=stage, who=name)
    return table


def run(
    run_dir: str,
    cfg: ReviewConfig,
    *,
    decisions_csv: str | None = None,
    truth_csv: str | None = None,
    apply_log: bool = False,
    force: bool = False,
) -> tuple[dict, bool]:
    """Apply decisions from ``decisions_csv`` or the review app's log (``apply_log``), or answer the queue
    from ``truth_csv``. Returns ``(report, ran)``."""
    if sum(map(bool, (decisions_csv, truth_csv, apply_log))) != 1:
        raise InputError(
            "review: give exactly one of --import DECISIONS.csv, --apply (the review app's log) "
            "or --simulate-reviewer TRUTH.csv"
        )
    the_run = Run(run_dir)
    log_run = RunFS(str(the_run.root)) if apply_log else None
    if log_run is not None and not log_run.exists(rlog.LOG):
        raise InputError(f"{log_run.path(rlog.LOG)}: no decision log yet (decide in `dcai review --serve`)")
    source = log_run.path(rlog.LOG) if log_run is not None else str(decisions_csv or truth_csv)
    if not Path(source).exists():
        raise InputError(f"{source}: file not found")
    existing = the_run.stage_dir(STAGE)
    number = int(existing.name[:2]) if existing else None
    queue_path = q.find_queue(storage.local(the_run.root, "review"), before=number)
    prior = (
        _read_prior(storage.local(existing, "review") / DECISIONS_CSV, drop_log=apply_log) if existing else {}
    )
    from_log: set[str] = set()

    def stage(table: pa.Table, ctx: StageContext) -> StageOutput:
        queue = q.read_queue(queue_path) if queue_path else q.QUEUE_SCHEMA.empty_table()
        qids = queue.column("id").to_pylist()
        pending = [
            rid for rid, d in zip(qids, queue.column("decision").to_pylist()) if not d and rid not in prior
        ]
        who: dict[str, str] = {}
        if log_run is not None:
            new, who = log_decisions(log_run, table)
            from_log.update(new)
        elif decisions_csv:
            new = dec.read_decisions(decisions_csv, table)
        else:
            ids = pending[: cfg.max_items] if cfg.max_items else pending
            new = dec.TruthReviewer.from_csv(str(truth_csv)).answer(table, ids)
        answers = {**prior, **new}
        table = apply_by_reviewer(table, answers, {rid: who.get(rid, "") for rid in answers}, stage=STAGE)
        with open(ctx.workdir / DECISIONS_CSV, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "decision", "source"])
            w.writerows([rid, str(d), LOG_SOURCE if rid in from_log else ""] for rid, d in answers.items())
        left = queue.filter(pa.array([rid not in answers for rid in qids], pa.bool_()))
        q.write_queue(left, ctx.workdir)
        return StageOutput(
            table,
            {
                "source": source,
                "mode": "log" if apply_log else "import" if decisions_csv else "simulated",
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


def apply_log_to(table: pa.Table, run_dir: str | storage.AnyPath) -> tuple[pa.Table, set[str], str | None]:
    """What ``clean`` does first: the review app's logged decisions applied to ``table`` as ``review --apply``
    would; returns ``(table, decided ids, the log's hash or None)``."""
    digest = review_log_hash(run_dir)
    if digest is None:
        return table, set(), None
    answers, who = log_decisions(RunFS(str(run_dir)), table)
    return apply_by_reviewer(table, answers, who, stage=STAGE), set(answers), digest


def review_log_hash(run_dir: str | storage.AnyPath) -> str | None:
    """The hash of the run's decision log, None without one: what makes ``clean`` rerun when it grew."""
    path = storage.path(run_dir) / rlog.LOG
    return file_hash(path) if path.exists() else None
