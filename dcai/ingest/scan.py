"""Find the images of a source: ``ROOT/<split>/<class>/*``, ``ROOT/<class>/*`` or a CSV / Parquet list,
on a local disk or behind any ``pyarrow.fs`` URI (``s3://bucket/prefix``, ``gs://…``).

Returns one record per file found (``uri, label, source_split``; on object storage also ``size`` and
``mtime`` from the listing); nothing is opened here, so an unreadable file still gets a record and is
quarantined later with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dcai import storage
from dcai.errors import InputError

LIST_SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_SPLIT = "train"  # ROOT/<class>/* has no split; the split stage makes val/test later


class SourceError(InputError):
    """A source that cannot be read as any accepted layout; the message names the path and the problem."""


def _visible(p: os.DirEntry | Path) -> bool:
    return not p.name.startswith(".")


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if _visible(e)), key=lambda e: e.name)
    except OSError as e:
        raise SourceError(f"{folder}: cannot list folder ({e.strerror})") from e


def _is_dir(e: os.DirEntry) -> bool:
    return e.is_dir(follow_symlinks=True)


def _files(folder: Path) -> list[str]:
    """Every visible non-directory entry (broken links included) below ``folder``, recursively."""
    out = []
    for e in _entries(folder):
        if _is_dir(e):
            out.extend(_files(Path(e.path)))
        else:
            out.append(os.path.abspath(e.path))
    return out


def normalise_split(name: str) -> str:
    s = name.strip().lower().replace(" ", "_")
    return {"training": "train", "valid": "val", "validation": "val", "testing": "test"}.get(s, s)


def scan(source: str | os.PathLike) -> tuple[list[dict], dict]:
    """Records ``{"uri", "label", "source_split"}`` and a description of the layout found."""
    if storage.is_uri(source):
        return _scan_uri(storage.UriPath(str(source)))
    src = Path(str(source).removeprefix("file://"))
    if str(source).lower().endswith(LIST_SUFFIXES):
        return _scan_list(src), {"layout": "list", "source": str(src.resolve())}
    if not src.exists():
        raise SourceError(f"{src}: no such file or folder")
    if not src.is_dir():
        raise SourceError(f"{src}: not a folder, and not a .csv or .parquet list")
    top = _entries(src)
    dirs = [e for e in top if _is_dir(e)]
    if not dirs:
        raise SourceError(
            f"{src}: no class folders found (expected ROOT/<class>/* or ROOT/<split>/<class>/*)"
        )
    loose = [e.name for e in top if not _is_dir(e)]
    # split/class layout: every top folder holds only folders (its classes)
    nested = all(
        any(_is_dir(c) for c in _entries(Path(d.path)))
        and not any(not _is_dir(c) for c in _entries(Path(d.path)))
        for d in dirs
    )
    records: list[dict] = []
    if nested:
        for d in dirs:
            split = normalise_split(d.name)
            for c in _entries(Path(d.path)):
                for f in _files(Path(c.path)):
                    records.append({"uri": f, "label": c.name, "source_split": split})
        layout = "split/class"
    else:
        for d in dirs:
            for f in _files(Path(d.path)):
                records.append({"uri": f, "label": d.name, "source_split": DEFAULT_SPLIT})
        layout = "class"
    return records, {"layout": layout, "source": str(src.resolve()), "ignored_top_level_files": loose}


def _scan_uri(src: storage.UriPath) -> tuple[list[dict], dict]:
    """The same layouts behind a URI, from one recursive listing: an object store answers a listing per
    thousand keys, where a walk folder by folder would cost a request per class and split."""
    import pyarrow.fs as pafs

    if src.name.lower().endswith(LIST_SUFFIXES):
        return _scan_list(src), {"layout": "list", "source": str(src)}
    try:
        infos = src.fs.get_file_info(pafs.FileSelector(src.path, recursive=True, allow_not_found=True))
    except OSError as e:
        raise SourceError(f"{src}: cannot list ({e})") from e
    files = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        parts = tuple(info.path[len(src.path) + 1 :].split("/"))
        if not any(p.startswith(".") for p in parts):
            files.append((parts, info))
    files.sort(key=lambda f: f[0])
    if not files:
        raise SourceError(f"{src}: no such folder, or no files under it")
    tops = sorted({parts[0] for parts, _ in files if len(parts) >= 2})
    loose = [parts[0] for parts, _ in files if len(parts) == 1]
    if not tops:
        raise SourceError(
            f"{src}: no class folders found (expected ROOT/<class>/* or ROOT/<split>/<class>/*)"
        )
    nested = all(len(parts) >= 3 for parts, _ in files if len(parts) >= 2)
    records = []
    for parts, info in files:
        if len(parts) < 2:
            continue
        label, split = (parts[1], normalise_split(parts[0])) if nested else (parts[0], DEFAULT_SPLIT)
        mtime = info.mtime.timestamp() if info.mtime is not None else None
        records.append(
            {
                "uri": str(src / "/".join(parts)),
                "label": label,
                "source_split": split,
                "size": info.size,
                "mtime": mtime,
            }
        )
    layout = "split/class" if nested else "class"
    return records, {"layout": layout, "source": str(src), "ignored_top_level_files": loose}


def _scan_list(path: Path | storage.UriPath) -> list[dict]:
    if not path.exists():
        raise SourceError(f"{path}: list file not found")
    try:
        data = pa.BufferReader(path.read_bytes())
        table = pq.read_table(data) if path.suffix.lower() in (".parquet", ".pq") else pacsv.read_csv(data)
    except (pa.ArrowInvalid, OSError) as e:
        raise SourceError(f"{path}: cannot read list ({e})") from e
    cols = {c.lower(): c for c in table.column_names}
    missing = [c for c in ("uri", "label") if c not in cols]
    if missing:
        raise SourceError(
            f"{path}: list needs columns uri,label[,split]; missing {missing} (have {table.column_names})"
        )
    uris = table.column(cols["uri"]).cast(pa.string()).to_pylist()
    labels = table.column(cols["label"]).cast(pa.string()).to_pylist()
    splits = (
        table.column(cols["split"]).cast(pa.string()).to_pylist() if "split" in cols else [None] * len(uris)
    )
    records = []
    for i, (u, lab, s) in enumerate(zip(uris, labels, splits)):
        if not u:
            raise SourceError(f"{path}: row {i + 2} has an empty uri")
        if "://" not in u and not os.path.isabs(u):
            u = (
                str(path.parent / u)
                if isinstance(path, storage.UriPath)
                else str((path.parent / u).resolve())
            )
        records.append({"uri": u, "label": lab, "source_split": normalise_split(s) if s else DEFAULT_SPLIT})
    return records
