"""Ground truth aligned to manifest rows, and how well flags and suggested labels match it.

Reads ``dcai synth``'s ``truth.csv`` (``path, true_label, problem``) or a reviewed sample (``path,
verdict, reviewed_label``). :func:`align` returns ``(N,)`` arrays; :func:`score` compares ``(N,)`` bool
flags and ``(N,)`` suggested labels with them.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.review.decisions import DecisionError, PathIndex

# A row is an error when its label is wrong or it is no valid image of any class.
ERRORS = ("mislabel", "blank", "scribble", "off_class", "junk")
_VERDICTS = {"ok": "clean", "wrong_label": "mislabel", "remove": "junk"}


def align(table: pa.Table, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``known`` (bool), ``true_label`` (object, None for junk), ``problem`` (object, "" where unknown)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = set(rows[0]) if rows else set()
    if not ({"path", "true_label"} <= cols or {"path", "verdict", "reviewed_label"} <= cols):
        raise DecisionError(f"{path}: needs 'path, true_label[, problem]' or 'path, verdict, reviewed_label'")
    n = table.num_rows
    known = np.zeros(n, bool)
    true = np.full(n, None, dtype=object)
    problem = np.full(n, "", dtype=object)
    index = PathIndex(table)
    labels = manifest.column(table, "label")
    for r in rows:
        i = index.lookup(r["path"])
        if i is None:
            continue
        known[i] = True
        if "true_label" in r:
            true[i] = r["true_label"] or None
            problem[i] = r.get("problem") or (
                "junk" if true[i] is None else "mislabel" if true[i] != labels[i] else "clean"
            )
        else:
            problem[i] = _VERDICTS.get(r["verdict"], r["verdict"])
            true[i] = None if r["verdict"] == "remove" else r["reviewed_label"]
    return {"known": known, "true_label": true, "problem": problem}


def score(
    flagged: np.ndarray,
    truth: dict[str, np.ndarray],
    *,
    suggested: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, float]:
    """Precision / recall / F1 of ``flagged`` as "is an error" over the known rows (of ``rows``, if given),
    and the share of flagged true mislabels whose ``suggested`` label is the true one."""
    n = len(flagged)
    pick = truth["known"].copy() if rows is None else np.isin(np.arange(n), rows) & truth["known"]
    flagged = np.asarray(flagged, bool)
    err = np.isin(truth["problem"], ERRORS)
    tp = int((flagged & err & pick).sum())
    nf, ne = int((flagged & pick).sum()), int((err & pick).sum())
    p, r = tp / max(nf, 1), tp / max(ne, 1)
    out = {"rows": int(pick.sum()), "errors": ne, "flagged": nf, "true_positives": tp,
           "precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}  # fmt: skip
    if suggested is not None:
        mis = pick & flagged & (truth["problem"] == "mislabel") & (truth["true_label"] != None)  # noqa: E711
        hit = np.asarray(suggested, dtype=object)[mis] == truth["true_label"][mis]
        out["suggestion_accuracy"] = round(float(hit.mean()), 4) if mis.any() else float("nan")
        out["suggestions_scored"] = int(mis.sum())
    return out
