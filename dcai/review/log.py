"""The review app's decision log: ``RUN/review-app/decisions.jsonl``, one JSON object a line, append-only.

A decision line is ``{"key", "id", "decision", "reviewer", "time"}``; an undo line is ``{"key", "undo":
<key of the line it takes back>, "reviewer", "time"}``. ``key`` is the client's idempotency key: a
request sent twice (a retry, a second tab replaying) is written once. Appends are serialised by a lock
and each line is fsync'd before the request is answered, so a killed server or browser loses nothing.
On an object store, which cannot append, each decision rewrites the log object whole (a put is atomic).
The state of an image is its newest decision line that no undo took back.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable

from dcai.review.decisions import Decision, DecisionError, parse_decision
from dcai.review.runfs import APP_DIR, RunFS

LOG = f"{APP_DIR}/decisions.jsonl"


def fold(entries: Iterable[dict]) -> dict[str, dict]:
    """``{image id: its current decision line}``: the newest decision of each image that no undo took back."""
    entries = list(entries)
    undone = {e["undo"] for e in entries if "undo" in e}
    current: dict[str, dict] = {}
    for e in entries:
        if "id" in e and e["key"] not in undone:
            current[e["id"]] = e
    # an image whose every decision was undone has none
    return current


def parse_lines(text: str, *, source: str = LOG) -> list[dict]:
    """The log's lines. A line that is not JSON is a write a kill cut off (it was never answered, and the
    next writer started a new line after it): skipped. JSON that is no decision line is an error."""
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict) or "key" not in e or not ("id" in e or "undo" in e):
            raise DecisionError(f"{source}:{n}: not a decision line (needs 'key' and 'id' or 'undo')")
        out.append(e)
    return out


class DecisionLog:
    """The log of one run, opened for appending. Thread-safe; one instance per server process."""

    def __init__(self, run: RunFS):
        self.run = run
        self.path = run.path(LOG)
        self._lock = threading.Lock()
        text = run.read_text(LOG) if run.exists(LOG) else ""
        self.entries: list[dict] = []
        self._by_key: dict[str, dict] = {}
        self._by_id: dict[str, list[dict]] = {}  # each image's decision lines, oldest first
        self._undone: set[str] = set()
        for e in parse_lines(text, source=self.path):
            self._remember(e)
        self._fd: int | None = None
        self._whole: bytes | None = None  # the log's bytes, where the filesystem cannot append
        run.fs.create_dir(run.path(APP_DIR), recursive=True)
        if run.local:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if text and not text.endswith("\n"):
            self._append("\n")  # keep the torn line apart from the next one

    def _append(self, line: str) -> None:
        data = line.encode()
        if self._fd is not None:
            os.write(self._fd, data)
            os.fsync(self._fd)
            return
        if self._whole is None:
            try:
                with self.run.fs.open_append_stream(self.path) as f:
                    f.write(data)
                return
            except NotImplementedError:  # an object store appends nothing: rewrite the object instead
                self._whole = self.run.read_text(LOG).encode() if self.run.exists(LOG) else b""
        # a put replaces the object whole or not at all; the lock orders the writers
        self._whole += data
        with self.run.fs.open_output_stream(self.path) as f:
            f.write(self._whole)

    def record(
        self, *, key: str, reviewer: str, image: str | None = None, decision: str | None = None,
        undo: str | None = None,
    ) -> tuple[dict, bool]:  # fmt: skip
        """Append a decision (``image``, ``decision``) or an undo (``undo``: a key); ``(line, written)``.
        A key already in the log returns its line and writes nothing."""
        if not key or len(key) > 100:
            raise DecisionError("a decision needs a key (the client's idempotency key) of 1-100 characters")
        with self._lock:
            if key in self._by_key:
                return self._by_key[key], False
            entry: dict = {"key": key}
            if undo is not None:
                if undo not in self._by_key or "id" not in self._by_key[undo]:
                    raise DecisionError(f"undo: no decision with key {undo!r} in the log")
                entry.update(undo=undo, id_undone=self._by_key[undo]["id"])
            else:
                entry.update(id=image, decision=decision)
            entry.update(reviewer=reviewer, time=round(time.time(), 3))
            self._append(json.dumps(entry, separators=(",", ":")) + "\n")
            self._remember(entry)
            return entry, True

    def _remember(self, e: dict) -> None:
        self.entries.append(e)
        self._by_key[e["key"]] = e
        if "undo" in e:
            self._undone.add(e["undo"])
        else:
            self._by_id.setdefault(e["id"], []).append(e)

    def current_of(self, image: str) -> dict | None:
        """The image's current decision line (None: undecided), as :func:`fold` would say."""
        for e in reversed(self._by_id.get(image, [])):
            if e["key"] not in self._undone:
                return e
        return None

    def decided_ids(self) -> list[str]:
        return [rid for rid in self._by_id if self.current_of(rid) is not None]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_log(run: RunFS) -> list[dict]:
    return parse_lines(run.read_text(LOG), source=run.path(LOG)) if run.exists(LOG) else []


def decisions(
    entries: Iterable[dict], *, known: set[str], classes: Iterable[str], source: str
) -> dict[str, Decision]:
    """``{image id: Decision}`` of the log's current state, checked as a CSV import is checked."""
    out: dict[str, Decision] = {}
    classes = sorted(classes)
    for rid, e in fold(entries).items():
        if rid not in known:
            raise DecisionError(
                f"{source}: decision {e['key']!r} names image {rid!r}, which is not in the run"
            )
        try:
            out[rid] = parse_decision(e["decision"], classes=classes)
        except DecisionError as err:
            raise DecisionError(f"{source}: decision {e['key']!r}: {err}") from None
    return out
