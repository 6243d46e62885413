"""The export stage's body, without Ray: enforce the cap, name each file, copy them (a ``copy`` passed in),
write ``OUT/manifest.parquet`` and ``OUT/export.json``. The run's manifest passes through (trimmed rows
move to ``surplus``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from dcai import imaging, manifest, storage
from dcai.errors import describe_os_error
from dcai.export import guard
from dcai.export.config import ExportConfig
from dcai.export.plan import destinations, enforce_cap, expected_classes, gaps
from dcai.runs import StageOutput
from dcai.storage import AnyPath

# copy(rows) -> bytes copied; rows: dicts with id, uri, dest
Copy = Callable[[list[dict]], int]


def copy_batch(batch: pa.Table) -> pa.Table:
    """Copy each ``uri`` to ``dest`` (each a local path or any pyarrow.fs URI); ``(id, bytes)`` per row (a
    ``map_batches`` body)."""
    sizes = []
    for uri, dest in zip(batch.column("uri").to_pylist(), batch.column("dest").to_pylist()):
        data = imaging.read_bytes(uri)
        storage.write_file(dest, data)
        sizes.append(len(data))
    return pa.table({"id": batch.column("id"), "bytes": pa.array(sizes, pa.int64())})


def local_copy(rows: list[dict]) -> int:
    """Every file copied in this process."""
    if not rows:
        return 0
    return int(copy_batch(pa.Table.from_pylist(rows)).column("bytes").to_numpy().sum())


def source_paths(table: pa.Table, *, run_root: AnyPath | None) -> list[str]:
    """The local image files the manifest points at outside the run folder: the user's own files."""
    paths: set[str] = set()
    for col in ("uri", "source_uri"):
        if col in table.column_names:
            paths.update(u for u in table.column(col).to_pylist() if u and not storage.is_uri(u))
    if isinstance(run_root, Path):
        root = str(run_root)
        paths = {p for p in paths if not guard._inside(p, root)}
    return sorted(paths)


def export(
    table: pa.Table,
    cfg: ExportConfig,
    out_path: AnyPath,
    *,
    copy: Copy = local_copy,
    run_root: AnyPath | None = None,
    inputs: tuple[str, ...] = (),
) -> StageOutput:
    """The stage body: the manifest in (and out, trimmed to the cap); the files and their manifest in ``out_path``.

    ``out_path`` must be new, empty (but for ``run_root``) or an earlier export, and hold none of the
    run's source images nor overlap an ``inputs`` folder (:mod:`dcai.export.guard`); only the files an earlier export listed are replaced.
    """
    guard.check_not_input(str(out_path), inputs)
    earlier = guard.previous_files(out_path, keep=[run_root] if run_root is not None else [])
    inside = [p for p in source_paths(table, run_root=run_root) if guard.overlap(p, [str(out_path)])]
    if inside:
        raise guard.OutputError(
            f"{out_path}: --out holds {len(inside)} of the run's source images (e.g. {inside[0]}); export "
            "writes and replaces files there, so choose a folder outside the input (nothing was written)"
        )
    table, trimmed = enforce_cap(
        table, capped_splits=cfg.capped_splits, max_images=cfg.max_images, trim=cfg.trim
    )
    rows = destinations(table, str(out_path), splits=cfg.splits)
    # A fresh export: the files an earlier export wrote must not mix in; nothing else is touched.
    guard.remove_previous(out_path, earlier)
    base = str(out_path).rstrip("/")
    written = [r["dest"][len(base) + 1 :] for r in rows] + ["manifest.parquet", "export.json"]
    try:
        out_path.mkdir(parents=True, exist_ok=True)
        guard.write_marker(out_path, run=str(run_root), files=written)  # before the copy: a crash stays ours
    except OSError as e:
        raise guard.OutputError(f"{out_path}: cannot write to --out: {describe_os_error(e)}") from None
    total_bytes = copy([{k: r[k] for k in ("id", "uri", "dest")} for r in rows]) if rows else 0
    manifest.write(table, out_path / "manifest.parquet")
    warnings = gaps(rows, expected_classes(table), splits=cfg.capped_splits)
    metrics = {
        "warnings": warnings,
        "out": str(out_path),
        "exported": len(rows),
        "per_split": dict(Counter(r["split"] for r in rows)),
        "trimmed": trimmed,
        "bytes": int(total_bytes),
        "max_images": cfg.max_images,
    }
    (out_path / "export.json").write_text(json.dumps(metrics, indent=2))
    return StageOutput(table, metrics)
