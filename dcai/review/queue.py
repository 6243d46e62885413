"""The review queue: images a person should look at, written into the run as Parquet and CSV.

One row per queued image: ``id, path, label, suggested_label, score, why, decision`` (``decision``
empty until answered). The CSV opens in a spreadsheet; fill ``decision`` and import it back.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dcai import manifest, storage

QUEUE_PARQUET, QUEUE_CSV = "queue.parquet", "queue.csv"
QUEUE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("path", pa.string()),  # the file the user gave (source_uri), what a reviewer recognises
        pa.field("uri", pa.string()),  # the bytes to show
        pa.field("label", pa.string()),  # current label
        pa.field("suggested_label", pa.string()),  # the machine's guess, empty if none
        pa.field("score", pa.float64()),  # the evidence that queued it (higher = more doubtful)
        pa.field("why", pa.string()),  # "<stage>: <rule>"
        pa.field("decision", pa.string()),  # keep | relabel:<label> | remove, empty until answered
    ]
)


def make_queue(
    table: pa.Table,
    where: np.ndarray,
    *,
    why: str | Sequence[str] | np.ndarray,
    suggested: Sequence | np.ndarray | None = None,
    score: Sequence[float] | np.ndarray | None = None,
) -> pa.Table:
    """Queue rows of ``table`` selected by the ``(N,)`` bool mask ``where``, most doubtful first.

    ``suggested`` and ``score`` are ``(N,)`` (aligned with ``table``) or ``(n_selected,)``.
    """
    where = np.asarray(where, dtype=bool)
    if len(where) != table.num_rows:
        raise ValueError(f"mask has {len(where)} entries for {table.num_rows} rows")
    idx = np.flatnonzero(where)
    n = len(idx)

    def pick(values, default):
        if values is None:
            return [default] * n
        arr = np.asarray(values, dtype=object)
        return list(arr[idx] if len(arr) == table.num_rows else arr)

    sugg = [s if isinstance(s, str) and s else None for s in pick(suggested, None)]
    scores = [float(s) if s is not None and np.isfinite(s) else float("nan") for s in pick(score, None)]
    whys = [why] * n if isinstance(why, str) else list(np.asarray(why, dtype=object)[idx])
    source = manifest.column(table, "source_uri")[idx]
    uris = manifest.column(table, "uri")[idx]
    q = pa.table(
        {
            "id": manifest.column(table, "id")[idx].tolist(),
            "path": [s if s is not None else u for s, u in zip(source, uris)],
            "uri": uris.tolist(),
            "label": manifest.column(table, "label")[idx].tolist(),
            "suggested_label": sugg,
            "score": scores,
            "why": whys,
            "decision": [None] * n,
        },
        schema=QUEUE_SCHEMA,
    )
    order = np.argsort(-np.nan_to_num(np.asarray(scores, float), nan=-np.inf), kind="stable")
    return q.take(pa.array(order, pa.int64())) if n else q


def merge(*queues: pa.Table) -> pa.Table:
    """One queue from several; an id queued twice keeps its first entry (callers order by priority)."""
    q = pa.concat_tables([x.cast(QUEUE_SCHEMA) for x in queues]) if queues else QUEUE_SCHEMA.empty_table()
    _, first = np.unique(np.asarray(q.column("id").to_pylist(), dtype=object), return_index=True)
    return q.take(pa.array(np.sort(first), pa.int64()))


def write_queue(queue: pa.Table, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``queue.parquet`` and ``queue.csv`` into ``folder`` atomically; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    queue = queue.cast(QUEUE_SCHEMA)
    pq_path, csv_path = folder / QUEUE_PARQUET, folder / QUEUE_CSV
    _atomic(pq_path, lambda tmp: pq.write_table(queue, tmp))
    _atomic(csv_path, lambda tmp: write_csv(queue, tmp))
    return pq_path, csv_path


def write_csv(queue: pa.Table, path: str | os.PathLike) -> None:
    """Plain CSV (empty cells for nulls) so a spreadsheet round-trips it unchanged."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(QUEUE_SCHEMA.names)
        for row in queue.cast(QUEUE_SCHEMA).to_pylist():
            w.writerow(["" if row[k] is None else _fmt(row[k]) for k in QUEUE_SCHEMA.names])


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else repr(v)  # repr round-trips a float exactly
    return str(v)


def read_queue(path: str | os.PathLike) -> pa.Table:
    """A queue from ``queue.parquet`` or ``queue.csv`` (a spreadsheet may drop columns it does not need)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.read_table(path).cast(QUEUE_SCHEMA)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {}
    for field in QUEUE_SCHEMA:
        vals = [r.get(field.name) or None for r in rows]
        if field.type == pa.float64():
            vals = [float(v) if v not in (None, "") else float("nan") for v in vals]
        cols[field.name] = pa.array(vals, field.type)
    return pa.table(cols, schema=QUEUE_SCHEMA)


def find_queue(run_root: str | os.PathLike, *, before: int | None = None) -> Path | None:
    """The newest stage folder of a run (numbered below ``before``, if given) holding a ``queue.parquet``."""
    from dcai.runs import Run

    for number, _, path in reversed(Run(run_root).stages()):
        if (before is None or number < before) and (path / QUEUE_PARQUET).exists():
            return storage.local(path, "the review queue") / QUEUE_PARQUET
    return None


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
