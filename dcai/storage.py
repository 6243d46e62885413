"""Paths that are local or on object storage: any ``pyarrow.fs`` URI (``s3://``, ``gs://``, ``hdfs://``).

:func:`path` gives a ``pathlib.Path`` for a local path (``file://`` included) and a :class:`UriPath` for a
URI; both answer the small pathlib subset runs, ingest and export use. Credentials and endpoints come
from the store's usual environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``,
``GOOGLE_APPLICATION_CREDENTIALS``…), so a URI stays a plain prefix that joins with ``/``.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path


def is_uri(p: str | os.PathLike) -> bool:
    """True for an object-store (or any non-local) URI; a ``file://`` URI counts as local."""
    s = str(p) if not isinstance(p, Path) else ""
    return "://" in s and not s.startswith("file://")


class UriPath:
    """A file or folder behind a ``pyarrow.fs`` URI. Folders on object stores are key prefixes: they
    exist once a file is under them, and ``mkdir`` is a no-op there."""

    def __init__(self, uri: str, _fs=None, _path: str | None = None):
        self.uri = uri.rstrip("/")
        if _fs is None:
            import pyarrow.fs as pafs

            _fs, _path = pafs.FileSystem.from_uri(self.uri)
        self.fs = _fs
        self.path = (_path or "").rstrip("/")

    def __truediv__(self, name: str | os.PathLike) -> UriPath:
        name = str(name).strip("/")
        return UriPath(f"{self.uri}/{name}", self.fs, f"{self.path}/{name}")

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"UriPath({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UriPath) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.name)[1]

    @property
    def parent(self) -> UriPath:
        return UriPath(self.uri.rsplit("/", 1)[0], self.fs, self.path.rsplit("/", 1)[0])

    def with_name(self, name: str) -> UriPath:
        return self.parent / name

    def _type(self):
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self._type() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs

        return self._type() == pafs.FileType.Directory

    def is_file(self) -> bool:
        import pyarrow.fs as pafs

        return self._type() == pafs.FileType.File

    def iterdir(self) -> list[UriPath]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        return [self / i.base_name for i in sorted(infos, key=lambda i: i.base_name)]

    def glob(self, pattern: str) -> list[UriPath]:
        """Children whose name matches ``pattern`` (one level, as the callers here need)."""
        return [p for p in self.iterdir() if fnmatch.fnmatch(p.name, pattern)]

    def stat(self) -> tuple[int | None, float | None]:
        """``(size, mtime)``; ``(None, None)`` where the store does not say."""
        info = self.fs.get_file_info(self.path)
        return info.size, info.mtime.timestamp() if info.mtime is not None else None

    def mkdir(self, parents: bool = True, exist_ok: bool = True) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> int:
        # An object store writes a key in one PUT: readers see the old object or the new, never half.
        with self.fs.open_output_stream(self.path) as f:
            f.write(data)
        return len(data)

    def write_text(self, text: str) -> int:
        return self.write_bytes(text.encode())


AnyPath = Path | UriPath


def path(p: str | os.PathLike | UriPath) -> AnyPath:
    """A :class:`UriPath` for a URI, else the resolved local ``Path`` (``file://`` stripped)."""
    if isinstance(p, UriPath):
        return p
    if is_uri(p):
        return UriPath(str(p))
    return Path(str(p).removeprefix("file://")).resolve()


def rmtree(p: AnyPath) -> None:
    """Remove a folder and everything below it; nothing if it is not there."""
    if isinstance(p, UriPath):
        import pyarrow.fs as pafs

        if p.fs.get_file_info(p.path).type != pafs.FileType.NotFound:
            p.fs.delete_dir(p.path)
    else:
        shutil.rmtree(p, ignore_errors=True)


def upload_tree(local: Path, dest: UriPath) -> None:
    """Copy every file below the local folder ``local`` to the same relative path under ``dest``."""
    import pyarrow.fs as pafs

    pafs.copy_files(
        str(local),
        dest.path,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=dest.fs,
        use_threads=True,
    )


def write_file(dest: str, data: bytes) -> None:
    """``data`` to the local path or URI ``dest``; local parents are created, the write is atomic."""
    if is_uri(dest):
        UriPath(dest).write_bytes(data)
        return
    target = Path(dest.removeprefix("file://"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def cache_dir(run_dir: str | os.PathLike | UriPath) -> Path:
    """The local folder for a run's decoded-image cache: ``RUN/cache`` for a local run; for a run on object
    storage a folder on this machine (``$DCAI_CACHE`` or ``~/.cache/dcai``) named after the run's URI,
    since the cache is read back as memory-mapped arrays. Its files are keyed by content, so a stale or
    shared one is never wrong, only cold."""
    p = path(run_dir)
    if isinstance(p, Path):
        return p / "cache"
    import hashlib

    base = Path(os.environ.get("DCAI_CACHE") or Path.home() / ".cache" / "dcai")
    return base / hashlib.sha1(p.uri.encode()).hexdigest()[:16]


def local(p: AnyPath, what: str) -> Path:
    """``p`` as a local ``Path``; a clear error where ``what`` cannot work on object storage yet."""
    if isinstance(p, UriPath):
        from dcai.errors import InputError

        raise InputError(f"{p}: {what} needs a local folder (or a shared file system), not object storage")
    return p
