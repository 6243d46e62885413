"""Decide which new images to make: parents ``(N,)`` rows in, one task per (parent, source, op) out.

Planning is seeded and happens once on the driver, so every worker makes exactly the planned images
and the result does not depend on how tasks are batched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcai import manifest
from dcai.augment import glyphs
from dcai.augment.config import SOURCES, UNBOUNDED, AugmentConfig

REFILL = "refill"  # the op of refill()'s tasks: seeds and ids of their own
TASK_COLUMNS = ("parent", "read_uri", "label", "split", "source", "op", "out_label", "copies", "seed")


def task_seed(seed: int, *parts: str) -> int:
    """A per-task seed from the run's seed and the task's identity, independent of batching."""
    return int(manifest.row_id(str(seed), *parts)[:8], 16)


def candidates(
    source: str, labels: np.ndarray, cfg: AugmentConfig, classes: Sequence[str]
) -> list[tuple[int, str, str]]:
    """``(parent index, op, output class)`` for every image a bounded source could make."""
    out: list[tuple[int, str, str]] = []
    if source == "mirror":
        for axis in cfg.mirror_axes:
            table = cfg.mirror_map.get(axis, {})
            out += [
                (i, axis, table[lab])
                for i, lab in enumerate(labels)
                if lab in table and table[lab] in classes
            ]
    elif source == "crop":
        out += [(i, pos, lab) for i, lab in enumerate(labels) for pos in cfg.crop_positions]
    elif source == "compose":
        rng = np.random.default_rng(0)  # choose() only tests feasibility here; the worker draws the glyphs
        targets = [t for t in cfg.compose_targets if t in classes]
        out += [
            (i, t, t)
            for i, lab in enumerate(labels)
            for t in targets
            if glyphs.choose(lab, t, rng) is not None
        ]
    return out


def allocate(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split ``total`` by ``weights`` (largest remainder, ties by name): the parts sum to ``total``."""
    w = {k: v for k, v in weights.items() if v > 0}
    if not w or total <= 0:
        return {k: 0 for k in weights}
    exact = {k: total * v / sum(w.values()) for k, v in w.items()}
    out = {k: int(np.floor(x)) for k, x in exact.items()}
    for k in sorted(w, key=lambda k: (-(exact[k] - out[k]), k))[: total - sum(out.values())]:
        out[k] += 1
    return {k: out.get(k, 0) for k in weights}


def quotas(
    labels: np.ndarray, cfg: AugmentConfig, classes: Sequence[str], supply: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """``{source: {class: n}}`` new images wanted.

    A fixed count asks each source for that many per class. With ``target_per_class`` the shortfall of each class is split by the source weights, and what
    a bounded source cannot supply moves to the unbounded ones (AutoAugment, heavy) when they are on.
    """
    if not cfg.target_per_class:
        return {s: {c: cfg.count(s) for c in classes} for s in SOURCES}
    have = {c: int((labels == c).sum()) for c in classes}
    out: dict[str, dict[str, int]] = {s: {} for s in SOURCES}
    for c in classes:
        parts = allocate(max(0, cfg.target_per_class - have[c]), {s: cfg.count(s) for s in SOURCES})
        deficit = 0
        for s in SOURCES:
            if s not in UNBOUNDED:
                deficit += max(0, parts[s] - supply[s][c])
                parts[s] = min(parts[s], supply[s][c])
        extra = allocate(deficit, {s: cfg.count(s) for s in UNBOUNDED})
        for s in SOURCES:
            out[s][c] = parts[s] + extra.get(s, 0)
    return out


def plan(
    parents: dict[str, np.ndarray], cfg: AugmentConfig, *, classes: Sequence[str]
) -> tuple[list[dict], dict]:
    """Tasks for the derive step, and ``{"planned": {source: {class: n}}, "short": ...}`` for the report.

    ``parents``: columns ``id, read_uri, label, split`` as arrays, and optionally ``isolated`` (bool: embed's
    edge cases, drawn ``cfg.edge_case_weight`` times as often by the unbounded sources). Unbounded sources
    get one task per parent with ``copies`` > 1, so a parent's copies are drawn in one batched call.
    """
    rng = np.random.default_rng(cfg.seed)
    labels = np.asarray(parents["label"], dtype=object)
    cands = {s: candidates(s, labels, cfg, classes) for s in SOURCES if s not in UNBOUNDED}
    supply = {s: {c: sum(1 for _, _, o in cands.get(s, []) if o == c) for c in classes} for s in SOURCES}
    for s in UNBOUNDED:
        supply[s] = {c: int((labels == c).sum()) for c in classes}
    want = quotas(labels, cfg, classes, supply)
    chosen: list[tuple[int, str, str, str, int]] = []  # (parent, source, op, out_label, copies)
    for s in SOURCES:
        for c in classes:
            n = want[s][c]
            if n <= 0:
                continue
            if s in UNBOUNDED:
                chosen += _draw(parents, labels, s, c, n, cfg, rng)
            else:
                pool = [x for x in cands[s] if x[2] == c]
                for j in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False)):
                    i, op, out = pool[j]
                    chosen.append((i, s, op, out, 1))
    tasks = _tasks(parents, labels, chosen, cfg)
    planned = {s: {c: 0 for c in classes} for s in SOURCES}
    for t in tasks:
        planned[t["source"]][t["out_label"]] += t["copies"]
    short = {
        s: {c: want[s][c] - planned[s][c] for c in classes if want[s][c] > planned[s][c]} for s in SOURCES
    }
    return tasks, {"planned": planned, "short": {s: v for s, v in short.items() if v}}


def refill(
    parents: dict[str, np.ndarray], cfg: AugmentConfig, *, classes: Sequence[str], lost: dict[str, int]
) -> list[dict]:
    """Tasks that make up, from the unbounded sources that are on (split by their weights), the images of
    each class that the first round lost (``lost``: ``{class: n}``, images its validity check turned away
    or that could not be made), so ``target_per_class`` still holds. Their ``op`` is ``refill``: their
    seeds, and so their images and ids, differ from the first round's. None without an unbounded source."""
    weights = {s: cfg.count(s) for s in UNBOUNDED if cfg.count(s) > 0}
    if not weights:
        return []
    rng = np.random.default_rng([cfg.seed, 1])
    labels = np.asarray(parents["label"], dtype=object)
    chosen: list[tuple[int, str, str, str, int]] = []
    for c in classes:
        for s, n in allocate(lost.get(c, 0), weights).items():
            if n > 0:
                chosen += _draw(parents, labels, s, c, n, cfg, rng, op=REFILL)
    return _tasks(parents, labels, chosen, cfg)


def _draw(
    parents: dict[str, np.ndarray],
    labels: np.ndarray,
    source: str,
    c: str,
    n: int,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    *,
    op: str = "",
) -> list[tuple[int, str, str, str, int]]:
    """``n`` images of class ``c`` from unbounded ``source``: parents of the class drawn with replacement
    (embed's isolated ones ``cfg.edge_case_weight`` times as often), one entry per parent with its copies."""
    idx = np.flatnonzero(labels == c)
    if idx.size == 0:
        return []
    edge = np.asarray(parents.get("isolated", np.zeros(len(labels), bool)), bool)[idx]
    if cfg.edge_case_weight != 1.0 and edge.any():
        w = np.where(edge, cfg.edge_case_weight, 1.0)
        draws = rng.choice(idx.size, n, p=w / w.sum())
    else:  # uniform: the draws of a run without embed, unchanged
        draws = rng.integers(0, idx.size, n)
    per_parent = np.bincount(draws, minlength=idx.size)
    return [(int(idx[j]), source, op, c, int(k)) for j, k in enumerate(per_parent) if k]


def _tasks(
    parents: dict[str, np.ndarray],
    labels: np.ndarray,
    chosen: list[tuple[int, str, str, str, int]],
    cfg: AugmentConfig,
) -> list[dict]:
    tasks = [
        {
            "parent": parents["id"][i],
            "read_uri": parents["read_uri"][i],
            "label": labels[i],
            "split": parents["split"][i],
            "source": s,
            "op": op,
            "out_label": out,
            "copies": copies,
            "seed": task_seed(cfg.seed, parents["id"][i], s, op),
        }
        for i, s, op, out, copies in chosen
    ]
    tasks.sort(
        key=lambda t: (t["read_uri"], t["source"], t["op"])
    )  # a parent's tasks sit together: one decode
    return tasks
