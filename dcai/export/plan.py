"""Pure planning for export: enforce the cap (fail or trim) and name each exported file."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.errors import InputError


class ExportError(InputError):
    """The run cannot be exported as asked (e.g. over the cap without --trim)."""


def over_cap(table: pa.Table, *, capped_splits: tuple[str, ...], max_images: int) -> int:
    splits = manifest.column(table, "split")
    return int(np.isin(splits, capped_splits).sum()) - max_images


def trim_mask(table: pa.Table, excess: int, *, capped_splits: tuple[str, ...]) -> np.ndarray:
    """Rows to move to surplus: ``excess`` of them, train before val, derived images before originals,
    always from the currently largest class so what remains stays as balanced as it can."""
    split = manifest.column(table, "split")
    label = manifest.column(table, "label")
    origin = manifest.column(table, "origin")
    mask = np.zeros(table.num_rows, dtype=bool)
    # candidates per (split order, class): derived first, then originals, last rows first (stable)
    order = list(capped_splits)
    order.sort(key=lambda s: 0 if s == manifest.TRAIN else 1)
    for s in order:
        if excess <= 0:
            break
        idx = np.flatnonzero(split == s)
        queues: dict[str, list[int]] = {}
        for i in sorted(idx, key=lambda i: (origin[i] == manifest.ORIGINAL, -i)):
            queues.setdefault(label[i], []).append(int(i))
        sizes = Counter({k: len(v) for k, v in queues.items()})
        while excess > 0 and sizes and max(sizes.values()) > 0:
            k = max(sizes, key=lambda c: (sizes[c], c))
            mask[queues[k][len(queues[k]) - sizes[k]]] = True
            sizes[k] -= 1
            excess -= 1
    return mask


def enforce_cap(
    table: pa.Table, *, capped_splits: tuple[str, ...], max_images: int, trim: bool
) -> tuple[pa.Table, int]:
    """The table to export and how many rows were trimmed; raises :class:`ExportError` when over the cap."""
    excess = over_cap(table, capped_splits=capped_splits, max_images=max_images)
    if excess <= 0:
        return table, 0
    total = excess + max_images
    if not trim:
        raise ExportError(
            f"{total:,} {'+'.join(capped_splits)} images exceed the cap of {max_images:,} (--max-images) by "
            f"{excess:,}: pass --trim to move the excess to surplus (balanced across classes), or run `dcai balance` first"
        )
    mask = trim_mask(table, excess, capped_splits=capped_splits)
    return manifest.set_split(
        table, mask, manifest.SURPLUS, reason=f"export: trimmed to --max-images {max_images}"
    ), excess


def destinations(table: pa.Table, out: str, *, splits: tuple[str, ...]) -> list[dict]:
    """``[{"id", "uri", "split", "dest"}]`` for every row of an exported split; names are ``<id><ext>``, so
    files with the same name in different source folders never collide."""
    rows = []
    for rid, uri, split, label in zip(
        *(table.column(c).to_pylist() for c in ("id", "uri", "split", "label"))
    ):
        if split not in splits:
            continue
        ext = os.path.splitext(uri)[1].lower() or ".png"
        rows.append(
            {
                "id": rid,
                "uri": uri,
                "split": split,
                "label": label,
                "dest": os.path.join(out, split, label, f"{rid}{ext}"),
            }  # fmt: skip
        )
    return rows


def expected_classes(table: pa.Table) -> list[str]:
    """Every class the run has seen: the labels of all rows but quarantined ones (removed and surplus
    rows included, so a class that lost all its images is still expected)."""
    split, label = manifest.column(table, "split"), manifest.column(table, "label")
    return sorted({lab for s, lab in zip(split, label) if s != manifest.QUARANTINE and lab is not None})


def gaps(rows: list[dict], classes: list[str], *, splits: tuple[str, ...]) -> list[str]:
    """What an export lacks: an empty split, or classes with no image in a split (``rows`` as from
    :func:`destinations`). A dataset like that trains a model that cannot predict those classes."""
    per_split = Counter(r["split"] for r in rows)
    per_class = Counter((r["split"], r["label"]) for r in rows)
    out = []
    for s in splits:
        if per_split[s] == 0:
            out.append(f"split {s!r} is empty: no image exported to {s}/")
            continue
        missing = [c for c in classes if per_class[(s, c)] == 0]
        if missing:
            out.append(f"{len(missing)} class(es) have no {s} image: {', '.join(missing)}")
    return out
