"""What a stage's report section reads besides its ``report.json``: its manifest, the manifest before it,
class counts. A run may be old or half-written: a missing file or key reads as ``None`` / ``{}``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from dcai import manifest, storage
from dcai.runs import MANIFEST, Run

POOL = ("train", "val")  # balance's and split's default pool when the report has no config


def stage_manifest(stage_dir: Path) -> pa.Table | None:
    """The stage's own manifest, or ``None`` when it is missing or unreadable (a report must still render)."""
    try:
        return manifest.read(storage.path(stage_dir) / MANIFEST)
    except (OSError, manifest.ManifestError):
        return None


def previous_manifest(run_dir: Path, stage_dir: Path, report: dict) -> pa.Table | None:
    """The manifest the stage read: the complete stage numbered just before it, else the report's ``input``."""
    path: storage.AnyPath | None = None
    try:
        number = int(storage.path(stage_dir).name[:2])
        before = [p for n, _, p in Run(run_dir).stages() if n < number]
        path = before[-1] / MANIFEST if before else None
    except (ValueError, OSError):
        path = None
    if path is None and report.get("input"):
        path = storage.path(report["input"])
    if path is None:
        return None
    try:
        return manifest.read(path)
    except (OSError, manifest.ManifestError):
        return None


def class_counts(table: pa.Table | None, splits: tuple[str, ...]) -> dict[str, int]:
    """``{label: n}`` over the rows of ``splits`` (labelled rows only)."""
    if table is None or not table.num_rows:
        return {}
    mask = np.isin(manifest.column(table, "split"), splits)
    return dict(Counter(str(x) for x in manifest.column(table, "label")[mask] if x is not None))


def report_dict(report: dict, key: str) -> dict:
    """``report[key]`` if it is a dict (older runs may lack it), else ``{}``."""
    value = report.get(key)
    return value if isinstance(value, dict) else {}


def pool_of(report: dict) -> tuple[str, ...]:
    """The ``pool_splits`` the stage ran with (its recorded config), else :data:`POOL`."""
    cfg = report.get("config")
    pool = cfg.get("pool_splits") if isinstance(cfg, dict) else None
    return tuple(pool) if pool else POOL
