"""The review app's index of a run, built once into ``RUN/review-app/`` so a page reads only its own rows.

``items.parquet``: one row per thing to review (every stage's queue, dedup groups, quarantined files),
largest doubt first, in row groups of :data:`ROW_GROUP` (a page reads one). ``lookup.parquet``: every
manifest row's ``id, uri, label, split`` sorted by id (an image request reads one row group).
``index.json``: classes, reasons, a few label-book examples per class, and what the index was built from.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
import time
from collections import Counter
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dcai import manifest
from dcai.review.runfs import APP_DIR, RunFS

ITEMS, LOOKUP, INDEX = f"{APP_DIR}/items.parquet", f"{APP_DIR}/lookup.parquet", f"{APP_DIR}/index.json"
ROW_GROUP = 256  # items a page's read covers: one row group
LOOKUP_GROUP = 4096
EXAMPLES_PER_CLASS = 4
# manifest columns shown as an item's evidence, by the stage that wrote them
EVIDENCE_PREFIXES = ("vote_", "aux_", "investigate_", "clean_", "dup_")
EVIDENCE_EXTRA = ("suggested_label", "certified", "reason", "split", "origin", "note")
DEDUP_CONFLICT_SCORE, DEDUP_SCORE, QUARANTINE_SCORE = 1.0, 0.5, 0.0  # queue scores lie in [0, 1]

ITEMS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # the image a decision is about
        ("kind", pa.string()),  # image | group | quarantine
        ("uri", pa.string()),
        ("path", pa.string()),  # the file the user gave
        ("label", pa.string()),
        ("suggested", pa.string()),
        ("score", pa.float64()),  # the largest doubt any stage gave it
        ("why", pa.string()),  # that stage's "<stage>: <rule>"
        ("whys", pa.string()),  # every reason, "|a|b|" (a filter matches "|a|")
        ("members", pa.string()),  # JSON list of the duplicate group's ids (kind group)
        ("evidence", pa.string()),  # JSON {stage: {column: value}}
    ]
)


def _jsonable(v):
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    return v


def _stage_of(column: str) -> str:
    for p in EVIDENCE_PREFIXES:
        if column.startswith(p):
            return {"aux_": "investigate", "dup_": "dedup"}.get(p, p.rstrip("_"))
    return "investigate" if column in ("suggested_label", "certified") else "manifest"


def source_key(run: RunFS) -> str:
    """What the index depends on: the newest manifest and every stage's queue file (sizes, mtimes)."""
    parts = [run.latest_manifest(), run.mtime_key(run.latest_manifest())]
    for _, name, folder in run.stages():
        if name != "review" and run.exists(f"{folder}/queue.parquet"):
            parts += [folder, run.mtime_key(f"{folder}/queue.parquet")]
    return "|".join(parts)


def build(run: RunFS, *, force: bool = False) -> dict:
    """Write the index unless it is up to date; returns ``index.json``'s content."""
    key = source_key(run)
    if not force and run.exists(INDEX) and run.exists(ITEMS) and run.exists(LOOKUP):
        meta = json.loads(run.read_text(INDEX))
        if meta.get("key") == key:
            return meta
    started = time.time()
    latest = run.latest_manifest()
    names = run.parquet(latest).schema_arrow.names
    evidence_cols = [c for c in names if c.startswith(EVIDENCE_PREFIXES) or c in EVIDENCE_EXTRA]
    base = ["id", "uri", "source_uri", "label", "split", "trusted"]
    table = run.read_table(latest, columns=list(dict.fromkeys(base + evidence_cols)))
    entries = _queue_entries(run) + _dedup_entries(table) + _quarantine_entries(table)
    items = _items(table, entries, evidence_cols)
    run.write_table(ITEMS, items, row_group_size=ROW_GROUP)
    lookup = table.select(["id", "uri", "label", "split"]).sort_by("id")
    run.write_table(LOOKUP, lookup, row_group_size=LOOKUP_GROUP)
    meta = {
        "key": key,
        "manifest": latest,
        "built": round(time.time(), 3),
        "seconds": round(time.time() - started, 3),
        "rows": table.num_rows,
        "items": items.num_rows,
        "classes": manifest.classes(table) if table.num_rows else [],
        "reasons": dict(
            Counter(w for ws in items.column("whys").to_pylist() for w in ws.strip("|").split("|"))
        ),
        "examples": examples(table),
    }
    run.write_text(INDEX, json.dumps(meta, indent=1))
    return meta


def _queue_entries(run: RunFS) -> list[dict]:
    out = []
    for _, name, folder in run.stages():
        if name == "review" or not run.exists(f"{folder}/queue.parquet"):
            continue  # review's own queue is what is left of the others
        q = run.read_table(f"{folder}/queue.parquet", columns=["id", "suggested_label", "score", "why"])
        for rid, sugg, score, why in zip(*(q.column(c).to_pylist() for c in q.column_names)):
            out.append({"id": rid, "suggested": sugg, "score": score, "why": why or f"{name}: queued"})
    return out


def _dedup_entries(table: pa.Table) -> list[dict]:
    """One item per duplicate group with a label conflict or a copy dedup removed: its first such member."""
    if "dup_group" not in table.column_names:
        return []
    ids = manifest.column(table, "id")
    group = manifest.column(table, "dup_group")
    conflict = np.array(
        [bool(v) for v in (table.column("dup_conflict").to_pylist() if "dup_conflict" in table.column_names else [None] * len(ids))]
    )  # fmt: skip
    reason = manifest.column(table, "reason") if "reason" in table.column_names else np.full(len(ids), None)
    members: dict[str, list[int]] = {}
    for i in np.flatnonzero(group != None):  # noqa: E711 - object array, elementwise
        members.setdefault(group[i], []).append(int(i))
    out = []
    for rows in members.values():
        if len(rows) < 2:
            continue
        conflicted = [i for i in rows if conflict[i]]
        removed = [i for i in rows if str(reason[i] or "").startswith("dedup")]
        if not (conflicted or removed):
            continue
        subject = (conflicted or removed)[0]
        out.append({
            "id": ids[subject], "suggested": None,
            "score": DEDUP_CONFLICT_SCORE if conflicted else DEDUP_SCORE,
            "why": "dedup: label conflict" if conflicted else "dedup: duplicate",
            "members": [ids[i] for i in rows],
        })  # fmt: skip
    return out


def _quarantine_entries(table: pa.Table) -> list[dict]:
    split = manifest.column(table, "split")
    ids = manifest.column(table, "id")
    return [
        {
            "id": ids[i],
            "suggested": None,
            "score": QUARANTINE_SCORE,
            "why": "ingest: quarantined",
            "kind": "quarantine",
        }
        for i in np.flatnonzero(split == manifest.QUARANTINE)
    ]


def _items(table: pa.Table, entries: list[dict], evidence_cols: list[str]) -> pa.Table:
    """Entries merged per id (largest score leads, every reason kept), evidence attached, doubt first."""
    merged: dict[str, dict] = {}
    for e in entries:
        score = e["score"] if e["score"] is not None and not math.isnan(e["score"]) else -math.inf
        m = merged.setdefault(e["id"], {"whys": [], "score": -math.inf, "why": e["why"], "suggested": None})
        if e["why"] not in m["whys"]:
            m["whys"].append(e["why"])
        if score > m["score"] or (m["score"] == -math.inf and len(m["whys"]) == 1):
            m.update(score=score, why=e["why"], suggested=e["suggested"] or m["suggested"])
        m["suggested"] = m["suggested"] or e["suggested"]
        if e.get("members"):
            m["members"] = e["members"]
        if e.get("kind"):
            m["kind"] = e["kind"]
    if not merged:
        return ITEMS_SCHEMA.empty_table()
    ids = list(merged)
    pos = pc.index_in(pa.array(ids, pa.string()), table.column("id")).to_numpy(zero_copy_only=False)
    sub = table.take(pa.array(pos, pa.int64()))
    cols = {c: sub.column(c).to_pylist() for c in sub.column_names}
    rows = []
    for k, rid in enumerate(ids):
        m = merged[rid]
        ev: dict[str, dict] = {}
        for c in evidence_cols:
            v = _jsonable(cols[c][k])
            if v is not None:
                ev.setdefault(_stage_of(c), {})[c] = v
        rows.append({
            "id": rid, "kind": m.get("kind") or ("group" if m.get("members") else "image"),
            "uri": cols["uri"][k], "path": cols["source_uri"][k] or cols["uri"][k], "label": cols["label"][k],
            "suggested": m["suggested"], "score": None if m["score"] == -math.inf else float(m["score"]),
            "why": m["why"], "whys": "|" + "|".join(m["whys"]) + "|",
            "members": json.dumps(m["members"]) if m.get("members") else None, "evidence": json.dumps(ev),
        })  # fmt: skip
    order = sorted(
        range(len(rows)), key=lambda i: -(rows[i]["score"] if rows[i]["score"] is not None else -1.0)
    )
    return pa.Table.from_pylist([rows[i] for i in order], schema=ITEMS_SCHEMA)


def examples(table: pa.Table, *, per_class: int = EXAMPLES_PER_CLASS) -> dict[str, list[str]]:
    """A few reference images per class: label-book (trusted) rows first, then the vote's surest train rows."""
    ids, labels = manifest.column(table, "id"), manifest.column(table, "label")
    split = manifest.column(table, "split")
    trusted = np.array([bool(v) for v in table.column("trusted").to_pylist()], dtype=bool)
    sure = (
        np.nan_to_num(np.array(table.column("vote_given_prob").to_pylist(), dtype=float), nan=0.0)
        if "vote_given_prob" in table.column_names
        else np.zeros(len(ids))
    )
    active = ~np.isin(split, manifest.INACTIVE_SPLITS)
    order = np.lexsort((-sure, ~trusted))  # trusted first, then surest
    out: dict[str, list[str]] = {}
    for i in order:
        if active[i] and labels[i] is not None and len(out.setdefault(labels[i], [])) < per_class:
            out[labels[i]].append(ids[i])
    return dict(sorted(out.items()))


class Lookup:
    """``id -> (uri, label, split)`` from ``lookup.parquet``, reading one row group per miss."""

    def __init__(self, run: RunFS):
        self.file = run.parquet(LOOKUP)
        meta = self.file.metadata
        col = self.file.schema_arrow.get_field_index("id")
        self.mins = [meta.row_group(g).column(col).statistics.min for g in range(meta.num_row_groups)]
        self._group = lru_cache(maxsize=64)(self._read_group)
        self._lock = threading.Lock()  # one reader of the file at a time

    def _read_group(self, g: int) -> dict[str, tuple]:
        with self._lock:
            t = self.file.read_row_group(g)
        return {r["id"]: (r["uri"], r["label"], r["split"]) for r in t.to_pylist()}

    def get(self, rid: str) -> tuple[str, str | None, str] | None:
        g = bisect.bisect_right(self.mins, rid) - 1
        return self._group(g).get(rid) if g >= 0 else None
