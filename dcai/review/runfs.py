"""A run directory on any ``pyarrow.fs`` filesystem (a local path, ``file://``, ``s3://``, ``hdfs://``):
list its stages, read Parquet column and row subsets, write small files, append log lines.

The review app reads a run through this only, so a run on shared or object storage works unchanged.
"""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from dcai.errors import InputError

_STAGE_DIR = re.compile(r"^(\d\d)-([a-z0-9_]+)$")
APP_DIR = "review-app"  # the app's own files inside the run: not a stage (no NN- prefix)


class RunFS:
    """``RunFS("runs/mine")`` or ``RunFS("s3://bucket/runs/mine")``; paths below are relative to the run."""

    def __init__(self, uri: str | os.PathLike):
        uri = str(uri)
        if "://" in uri:
            self.fs, self.base = pafs.FileSystem.from_uri(uri)
        else:
            self.fs, self.base = pafs.LocalFileSystem(), os.path.abspath(uri)
        self.uri = uri
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        if self.fs.get_file_info(self.base).type != pafs.FileType.Directory:
            raise InputError(f"{uri}: no run directory here")

    def path(self, rel: str) -> str:
        return f"{self.base.rstrip('/')}/{rel}" if rel else self.base

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def stages(self) -> list[tuple[int, str, str]]:
        """Complete stages in order: ``(number, name, relative folder)`` (those with a manifest)."""
        out = []
        for info in self.fs.get_file_info(pafs.FileSelector(self.base)):
            m = _STAGE_DIR.match(info.base_name)
            if (
                m
                and info.type == pafs.FileType.Directory
                and self.exists(f"{info.base_name}/manifest.parquet")
            ):
                out.append((int(m.group(1)), m.group(2), info.base_name))
        return sorted(out)

    def latest_manifest(self) -> str:
        stages = self.stages()
        if not stages:
            raise InputError(f"{self.uri}: no complete stage here; start with `dcai ingest SOURCE --run ...`")
        return f"{stages[-1][2]}/manifest.parquet"

    def parquet(self, rel: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.fs.open_input_file(self.path(rel)))

    def read_table(self, rel: str, *, columns: list[str] | None = None) -> pa.Table:
        """Only ``columns`` (those that exist) of a Parquet file in the run."""
        if columns is not None:
            have = set(pq.read_schema(self.path(rel), filesystem=self.fs).names)
            columns = [c for c in columns if c in have]
        return pq.read_table(self.path(rel), columns=columns, filesystem=self.fs)

    def write_table(self, rel: str, table: pa.Table, *, row_group_size: int | None = None) -> None:
        """Write to a temp name, then move into place (a rename where the filesystem has one)."""
        self.fs.create_dir(self.path(rel).rsplit("/", 1)[0], recursive=True)
        tmp = self.path(rel) + f".{os.getpid()}.tmp"
        pq.write_table(table, tmp, filesystem=self.fs, row_group_size=row_group_size)
        self.fs.move(tmp, self.path(rel))

    def read_text(self, rel: str) -> str:
        with self.fs.open_input_stream(self.path(rel)) as f:
            return f.read().decode()

    def write_text(self, rel: str, text: str) -> None:
        self.fs.create_dir(self.path(rel).rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(self.path(rel)) as f:
            f.write(text.encode())

    def mtime_key(self, rel: str) -> str:
        """Size and modification time of a file: what says a cached index built from it is stale."""
        info = self.fs.get_file_info(self.path(rel))
        return f"{info.size}:{info.mtime_ns}"
