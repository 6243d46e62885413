"""What export may touch: an output folder that is empty, new, or an earlier dcai export (its marker file
lists the files that export wrote); never a folder that holds the run's source images.

Checked before any file is written, so a wrong ``--out`` costs nothing: a folder of the user's own
files is refused with exit 2, and a re-export removes only the files its marker names.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from dcai import storage
from dcai.errors import InputError
from dcai.storage import AnyPath, UriPath

MARKER = ".dcai-export.json"  # in OUT: which run was exported and every file (relative path) it wrote


class OutputError(InputError):
    """The output folder is not one export may write to; the message names it and says why."""


def _inside(child: str, parent: str) -> bool:
    """True when the local path ``child`` is ``parent`` or below it (both already resolved)."""
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def overlap(out: str, inputs: Iterable[str]) -> str | None:
    """The first input that ``out`` equals or lies inside, or that lies inside ``out``; None if none."""
    if storage.is_uri(out):
        return next((i for i in inputs if storage.is_uri(i) and (_inside(out, i) or _inside(i, out))), None)
    o = str(Path(out).resolve())
    for i in inputs:
        if storage.is_uri(i):
            continue
        r = str(Path(i).resolve())
        if _inside(o, r) or _inside(r, o):
            return i
    return None


def check_not_input(out: str, inputs: Iterable[str], *, flag: str = "--out") -> None:
    """Refuse an output that is, contains, or lies inside an input folder (the source images)."""
    hit = overlap(out, [i for i in inputs if i])
    if hit is not None:
        raise OutputError(
            f"{out}: {flag} overlaps the input {hit}; export writes and replaces files there, so choose "
            "a folder outside the input (nothing was written)"
        )


def read_marker(out: AnyPath) -> dict | None:
    m = out / MARKER
    if not m.exists():
        return None
    try:
        data = json.loads(m.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise OutputError(f"{m}: not a dcai export marker ({type(e).__name__}); remove it by hand") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise OutputError(f"{m}: not a dcai export marker (no file list); remove it by hand")
    return data


def previous_files(out: AnyPath, *, keep: Iterable[AnyPath] = (), flag: str = "--out") -> list[str]:
    """The files an earlier export wrote to ``out`` (to be replaced), after checking ``out`` may be used.

    ``out`` may be missing, empty (apart from ``keep``: the run folder when it lives inside ``out``, as
    ``dcai pipeline`` puts it), or carry :data:`MARKER`; anything else is the user's and is refused.
    """
    if not out.exists():
        return []
    if not out.is_dir():
        raise OutputError(f"{out}: {flag} is a file, not a folder")
    marker = read_marker(out)
    if marker is not None:
        return [str(f) for f in marker["files"]]
    kept = {str(k) for k in keep}
    others = [p.name for p in out.iterdir() if str(p) not in kept]
    if others:
        shown = ", ".join(sorted(others)[:3]) + (", ..." if len(others) > 3 else "")
        raise OutputError(
            f"{out}: {flag} is not empty ({len(others)} entries: {shown}) and holds no {MARKER} from an "
            "earlier dcai export; choose an empty or new folder (nothing was written)"
        )
    return []


def remove_previous(out: AnyPath, files: Iterable[str]) -> int:
    """Remove the files an earlier export listed (and folders they leave empty); the rest of ``out`` stays."""
    removed = 0
    folders: set[str] = set()
    for rel in files:
        if os.path.isabs(rel) or ".." in Path(rel).parts:
            raise OutputError(f"{out / MARKER}: lists {rel!r}, outside the export; remove the marker by hand")
        p = out / rel
        if isinstance(p, UriPath):
            if p.exists():
                p.fs.delete_file(p.path)
                removed += 1
            continue
        try:
            p.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        folders.update(str(Path(rel).parents[i]) for i in range(len(Path(rel).parts) - 1))
    if isinstance(out, Path):
        for rel in sorted(folders, key=lambda s: -len(Path(s).parts)):
            try:
                (out / rel).rmdir()
            except OSError:  # not empty: something of the user's is in it, or it is gone already
                pass
    return removed


def write_marker(out: AnyPath, *, run: str, files: list[str]) -> None:
    (out / MARKER).write_text(json.dumps({"run": run, "time": time.time(), "files": files}, indent=1))
