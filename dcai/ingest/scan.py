"""Find the images of a source: ``ROOT/<split>/<class>/*``, ``ROOT/<class>/*`` or a CSV / Parquet list.

Returns one record per file found (``uri, label, source_split``); nothing is opened here, so an
unreadable file still gets a record and is quarantined later with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
    src = Path(source)
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


def _scan_list(path: Path) -> list[dict]:
    if not path.exists():
        raise SourceError(f"{path}: list file not found")
    try:
        table = pq.read_table(path) if path.suffix.lower() in (".parquet", ".pq") else pacsv.read_csv(path)
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
            u = str((path.parent / u).resolve())
        records.append({"uri": u, "label": lab, "source_split": normalise_split(s) if s else DEFAULT_SPLIT})
    return records
