"""Keep one image per group: per-row arrays ``(N,)`` + component labels ``(N,)`` → dedup columns and removals.

Order of preference for the copy that stays: rows that never move (trusted label_book rows, pinned
splits such as test, images of an earlier run in ``--against`` mode), then ``keep_order`` splits
(train before val), then the larger image (an original before its downscaled copy), then the id.
A group whose members carry different labels is flagged for review and nothing in it moves.
Then the decisions as manifest columns (:func:`apply`) and the report's counts and listings.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from dcai import manifest

KINDS = ("exact_bytes", "exact_pixels", "near")  # weakest link last


def decide(
    group: np.ndarray,
    *,
    ids: np.ndarray,
    splits: np.ndarray,
    labels: np.ndarray,
    stay: np.ndarray,
    area: np.ndarray,
    bytes_code: np.ndarray,
    pixel_code: np.ndarray,
    keep_order: tuple[str, ...] = ("train", "val"),
    max_near_group: int = 4,
) -> dict[str, np.ndarray]:
    """Columns ``dup_group``, ``dup_kind``, ``dup_of`` (object), ``dup_conflict``, ``remove`` (bool) for ``(N,)`` rows.

    ``group`` holds component labels (singletons have their own); ``stay`` marks rows never moved.
    A group joined by near links with more than ``max_near_group`` members is most likely a chain of
    look-alikes (one writer's ``ii``), not copies: it is flagged like a conflict and nothing moves.
    """
    n = len(group)
    out = {
        "dup_group": np.full(n, None, dtype=object),
        "dup_kind": np.full(n, None, dtype=object),
        "dup_of": np.full(n, None, dtype=object),
        "dup_conflict": np.zeros(n, dtype=bool),
        "remove": np.zeros(n, dtype=bool),
    }
    split_rank = {s: i for i, s in enumerate(keep_order)}
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo < 2:
            continue
        members = order[lo:hi]
        ranked = sorted(
            members.tolist(),
            key=lambda i: (
                not stay[i],
                split_rank.get(str(splits[i]), len(keep_order)),
                -int(area[i]),
                ids[i],
            ),
        )
        keeper = ranked[0]
        kinds = {}
        for i in ranked[1:]:
            kinds[i] = (
                0 if bytes_code[i] == bytes_code[keeper] else 1 if pixel_code[i] == pixel_code[keeper] else 2
            )
        kinds[keeper] = max(kinds.values())
        distinct = {lab for lab in labels[members] if lab is not None}
        conflict = len(distinct) > 1 or (kinds[keeper] == 2 and len(members) > max_near_group)
        for i in members:
            out["dup_group"][i] = ids[keeper]
            out["dup_kind"][i] = KINDS[kinds[i]]
            out["dup_conflict"][i] = conflict
            if i != keeper:
                out["dup_of"][i] = ids[keeper]
                out["remove"][i] = not conflict and not stay[i]
    return out


def conflict_reason(labels: np.ndarray, group: np.ndarray, conflict: np.ndarray) -> np.ndarray:
    """``review`` text for flagged rows: the labels their group carries (None elsewhere)."""
    out = np.full(len(labels), None, dtype=object)
    for g in np.unique(group[conflict]):
        members = np.flatnonzero(group == g)
        names = ", ".join(
            f"{lab} x{c}" for lab, c in sorted(Counter(labels[members].tolist()).items(), key=str)
        )
        out[members] = f"dedup: duplicate images with different labels ({names})"
    return out


def leakage(
    dup_group: np.ndarray,
    *,
    ids: np.ndarray,
    splits: np.ndarray,
    labels: np.ndarray,
    kinds: np.ndarray,
    max_listed: int = 200,
) -> dict:
    """Groups whose members sit in more than one split (before dedup moved anything).

    Returns ``{"groups": n, "by_splits": {"train+val": n, ...}, "listed": [{group, kind, splits, members}]}``.
    """
    by_group: dict[str, list[int]] = {}
    for i in np.flatnonzero(dup_group != None):  # noqa: E711 - object array, elementwise
        by_group.setdefault(dup_group[i], []).append(int(i))
    combos: Counter = Counter()
    listed: list[dict] = []
    for g, members in sorted(by_group.items()):
        present = sorted({splits[i] for i in members})
        if len(present) < 2:
            continue
        combos["+".join(present)] += 1
        if len(listed) < max_listed:
            weakest = max((KINDS.index(kinds[i]) for i in members), default=0)
            listed.append(
                {
                    "group": g,
                    "kind": KINDS[weakest],
                    "splits": present,
                    "members": [{"id": ids[i], "split": splits[i], "label": labels[i]} for i in members],
                }
            )
    return {"groups": int(sum(combos.values())), "by_splits": dict(sorted(combos.items())), "listed": listed}


def apply(table: pa.Table, rows: np.ndarray, dec: dict, review: np.ndarray, n: int) -> pa.Table:
    """Write the decisions of the first ``n`` (this run's) of :func:`decide`'s rows into the full manifest
    (``rows``: their positions in it): ``dup_*`` and ``review`` columns, removed copies moved to ``removed``."""
    full = {k: np.full(table.num_rows, None, object) for k in ("dup_group", "dup_kind", "dup_of", "review")}
    conflict = np.full(table.num_rows, None, object)
    for k in ("dup_group", "dup_kind", "dup_of"):
        full[k][rows] = dec[k][:n]
    conflict[rows] = dec["dup_conflict"][:n]
    full["review"][rows] = review[:n]
    if "review" in table.column_names:  # keep another stage's flag where dedup has nothing to say
        prior = np.asarray(table.column("review").to_pylist(), dtype=object)
        full["review"] = np.where(full["review"] == None, prior, full["review"])  # noqa: E711
    for k in ("dup_group", "dup_kind", "dup_of", "review"):
        table = manifest.with_column(table, k, pa.array(full[k].tolist(), pa.string()))
    table = manifest.with_column(table, "dup_conflict", pa.array(conflict.tolist(), pa.bool_()))
    remove = np.zeros(table.num_rows, bool)
    remove[rows] = dec["remove"][:n]
    if remove.any():
        table = manifest.set_split(table, remove, manifest.REMOVED, reason="dedup: duplicate")
        # set_split records one reason for all rows; naming each row's keeper that way would take one
        # O(N) call per group, so the keeper's id is filled in here, on exactly the rows just moved
        reasons = np.asarray(table.column("reason").to_pylist(), dtype=object)
        reasons[remove] = ["dedup: duplicate of " + k for k in full["dup_of"][remove]]
        table = table.set_column(
            table.column_names.index("reason"), "reason", pa.array(reasons.tolist(), pa.string())
        )
    return table


def listed_groups(dec: dict, ids, splits, labels, uris, limit: int) -> list[dict]:
    """Up to ``limit`` groups with their members, near and conflicting groups first (for the HTML report)."""
    by: dict[str, list[int]] = {}
    for i in np.flatnonzero(dec["dup_group"] != None):  # noqa: E711
        by.setdefault(dec["dup_group"][i], []).append(int(i))

    def rank(item):
        g, m = item
        return (not dec["dup_conflict"][m[0]], KINDS.index(dec["dup_kind"][m[0]]) * -1, g)

    out = []
    for g, members in sorted(by.items(), key=rank)[:limit]:
        out.append(
            {
                "group": g,
                "kind": max((dec["dup_kind"][i] for i in members), key=KINDS.index),
                "conflict": bool(dec["dup_conflict"][members[0]]),
                "members": [
                    {
                        "id": ids[i],
                        "split": splits[i],
                        "label": labels[i],
                        "uri": uris[i],
                        "kind": dec["dup_kind"][i],
                        "removed": bool(dec["remove"][i]),
                        "keeper": dec["dup_of"][i] is None,
                    }
                    for i in members
                ],
            }
        )
    return out


def report_metrics(dec, *, n, n_old, candidates, verified, parts, leak, timings, listed) -> dict:
    """The report's counts: groups by weakest link, removals, conflicts, pairs, leakage, timings."""
    in_group = dec["dup_group"] != None  # noqa: E711
    group_ids = set(dec["dup_group"][in_group].tolist())
    weakest: dict[str, int] = {}
    for g, k in zip(dec["dup_group"][in_group], dec["dup_kind"][in_group]):
        weakest[g] = max(weakest.get(g, 0), KINDS.index(k))
    by_kind = {k: sum(1 for v in weakest.values() if v == i) for i, k in enumerate(KINDS)}
    seconds = sum(timings.values())
    return {
        "images": n,
        "against_images": n_old,
        "groups": len(group_ids),
        "groups_by_kind": by_kind,
        "in_groups": int(in_group.sum()),
        "removed": int(dec["remove"].sum()),
        "conflict_groups": len(set(dec["dup_group"][dec["dup_conflict"]].tolist())),
        "candidate_pairs": int(candidates),
        "verified_pairs": int(verified),
        "partitions": int(parts),
        "leakage": leak,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "images_per_second": round(n / seconds, 1) if seconds else None,
        "listed": listed,
    }
