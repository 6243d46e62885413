"""Review decisions: parse ``keep | relabel:<label> | remove``, read them from CSV, apply them to a manifest.

A decisions CSV names each image by ``id`` or by ``path`` (absolute, or relative to any folder above
the image), so a spreadsheet of file names works. :class:`TruthReviewer` answers from a truth file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.errors import InputError

KEEP, RELABEL, REMOVE = "keep", "relabel", "remove"
FORMS = "keep | relabel:<label> | remove"


class DecisionError(InputError):
    """A decision or decisions file that cannot be used; the message names the file, line and problem."""


@dataclass(frozen=True)
class Decision:
    action: str  # keep | relabel | remove
    label: str | None = None  # the new label of a relabel

    def __str__(self) -> str:
        return f"{RELABEL}:{self.label}" if self.action == RELABEL else self.action


def parse_decision(text: str, *, classes: Iterable[str] | None = None) -> Decision:
    """``"keep"``, ``"remove"`` or ``"relabel:<label>"`` (case of the verb ignored; label checked)."""
    raw = (text or "").strip()
    verb, _, label = raw.partition(":")
    verb = verb.strip().lower()
    if verb in (KEEP, REMOVE) and not label:
        return Decision(verb)
    if verb == RELABEL and label.strip():
        label = label.strip()
        allowed = sorted(classes) if classes is not None else None
        if allowed is not None and label not in allowed:
            raise DecisionError(f"decision {raw!r}: unknown label {label!r}; classes are {allowed}")
        return Decision(RELABEL, label)
    raise DecisionError(f"decision {raw!r} is not one of: {FORMS}")


class PathIndex:
    """Find manifest rows by a user's path: the longest trailing run of path parts that matches."""

    def __init__(self, table: pa.Table):
        self._parts: list[tuple[str, ...]] = []
        self._by_name: dict[str, list[int]] = {}
        for i, p in enumerate(manifest.column(table, "source_uri")):
            parts = _parts(p) if p else ()
            self._parts.append(parts)
            if parts:
                self._by_name.setdefault(parts[-1], []).append(i)

    def lookup(self, path: str) -> int | None:
        """Row of ``path``: the longest tail of it that some row ends with; ``None`` if none or ambiguous."""
        want = _parts(path)
        if not want:
            return None
        rows = self._by_name.get(want[-1], [])
        for k in range(len(want), 0, -1):  # a truth file may name a parent folder the rows do not have
            hits = [i for i in rows if self._parts[i][-k:] == want[-k:]]
            if hits:
                return hits[0] if len(hits) == 1 else None
        return None


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(str(path).removeprefix("file://").replace("\\", "/")).parts


def read_decisions(path: str | os.PathLike, table: pa.Table) -> dict[str, Decision]:
    """``{row id: Decision}`` from a CSV with ``id`` or ``path`` and ``decision``; blank decisions skipped."""
    path = Path(path)
    if not path.exists():
        raise DecisionError(f"{path}: decisions file not found")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    cols = set(rows[0])
    if "decision" not in cols or not ({"id", "path"} & cols):
        raise DecisionError(
            f"{path}: needs a 'decision' column and an 'id' or 'path' column, has {sorted(cols)}"
        )
    # Every label in the run, not only the active rows': a reviewer may bring a removed image back.
    classes = sorted({v for v in table.column("label").to_pylist() if v is not None})
    ids = manifest.column(table, "id")
    known = set(ids.tolist())
    index = PathIndex(table) if "path" in cols else None
    out: dict[str, Decision] = {}
    for line, row in enumerate(rows, start=2):
        if not (row.get("decision") or "").strip():
            continue
        rid = (row.get("id") or "").strip()
        if not rid and index is not None:
            hit = index.lookup(row.get("path") or "")
            rid = ids[hit] if hit is not None else ""
        if rid not in known:
            who = row.get("id") or row.get("path")
            raise DecisionError(f"{path}:{line}: no image {who!r} in the run (or the path matches several)")
        try:
            out[rid] = parse_decision(row["decision"], classes=classes)
        except DecisionError as e:
            raise DecisionError(f"{path}:{line}: {e}") from None
    return out


class TruthReviewer:
    """Answers queue items as a perfect reviewer would, from ground truth.

    Reads ``dcai synth``'s ``truth.csv`` (``path, true_label``; empty = junk) or a reviewed sample
    (``path, verdict, reviewed_label``; verdict ``remove`` = junk). Images not in the file stay unanswered.
    """

    def __init__(self, truth: Mapping[str, str | None]):
        self.truth = dict(truth)  # path -> true label, None for an image to remove
        self.answered = 0

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> TruthReviewer:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        cols = set(rows[0]) if rows else set()
        if "true_label" in cols:
            return cls({r["path"]: (r["true_label"] or None) for r in rows})
        if {"verdict", "reviewed_label"} <= cols:
            return cls({r["path"]: None if r["verdict"] == REMOVE else r["reviewed_label"] for r in rows})
        raise DecisionError(
            f"{path}: a truth file needs 'path' and 'true_label', or 'path', 'verdict' and 'reviewed_label'"
        )

    def rows(self, table: pa.Table) -> dict[int, str | None]:
        """``{row index of table: true label or None (junk)}`` for the rows the truth file knows."""
        index = PathIndex(table)
        found: dict[int, str | None] = {}
        for p, true in self.truth.items():
            hit = index.lookup(p)
            if hit is not None:
                found[hit] = true
        return found

    def answer(self, table: pa.Table, ids: Iterable[str]) -> dict[str, Decision]:
        """Decisions for the rows ``ids`` of ``table`` that the truth file knows."""
        row_of = {rid: i for i, rid in enumerate(manifest.column(table, "id"))}
        labels = manifest.column(table, "label")
        found = self.rows(table)
        out: dict[str, Decision] = {}
        for rid in ids:
            i = row_of[rid]
            if i not in found:
                continue
            true = found[i]
            out[rid] = (
                Decision(REMOVE)
                if true is None
                else Decision(KEEP)
                if true == labels[i]
                else Decision(RELABEL, true)
            )
        self.answered += len(out)
        return out


def apply_decisions(
    table: pa.Table, decisions: Mapping[str, Decision], *, stage: str = "review", who: str = ""
) -> pa.Table:
    """Relabel / remove per decision with reason ``"<stage>: [<who> ]<action>"``; every answer goes in ``review``."""
    if not decisions:
        return table
    ids = manifest.column(table, "id")
    review = (
        np.asarray(table.column("review").to_pylist(), dtype=object)
        if "review" in table.column_names
        else np.full(table.num_rows, None, dtype=object)
    )
    pos = {rid: i for i, rid in enumerate(ids)}
    relabel: dict[str, list[int]] = {}
    remove: list[int] = []
    for rid, d in decisions.items():
        i = pos[rid]
        review[i] = str(d)
        if d.action == RELABEL and d.label is not None:
            relabel.setdefault(d.label, []).append(i)
        elif d.action == REMOVE:
            remove.append(i)
    for label, rows in relabel.items():
        mask = np.zeros(table.num_rows, bool)
        mask[rows] = True
        table = manifest.set_label(table, mask, label, reason=f"{stage}: {who + ' ' if who else ''}relabel")
    if remove:
        mask = np.zeros(table.num_rows, bool)
        mask[remove] = True
        table = manifest.set_split(
            table, mask, manifest.REMOVED, reason=f"{stage}: {who + ' ' if who else ''}remove"
        )
    return manifest.with_column(table, "review", pa.array(review.tolist(), pa.string()))
