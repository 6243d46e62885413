"""Run directories: ``runs/<name>/NN-<stage>/{manifest.parquet, report.json, images/}``.

A stage writes into a hidden temp folder and renames it into place when complete, so a killed job
leaves the last complete stage readable. A stage whose input and config hash match its existing
output is skipped; ``force=True`` reruns it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from dcai import manifest, runlock, storage
from dcai.errors import RunError, describe_os_error
from dcai.storage import AnyPath, UriPath

_STAGE_DIR = re.compile(r"^(\d\d)-([a-z0-9_]+)$")
MANIFEST, REPORT, IMAGES = "manifest.parquet", "report.json", "images"


@dataclass
class StageOutput:
    """What a stage function returns: the new manifest and the metrics for ``report.json``."""

    table: pa.Table
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageContext:
    """Handed to a stage function: where to write new images, and the run it belongs to."""

    run: Run
    name: str
    workdir: Path  # a local temp folder: becomes NN-<stage>/, or is uploaded there on object storage
    final: AnyPath | None = None  # NN-<stage>/ itself

    @property
    def images_dir(self) -> AnyPath:
        """Where the stage's new images go. On object storage that is the final folder itself: Ray
        workers on any node write there, and the stage counts only once its report is written."""
        if isinstance(self.final, UriPath):
            return self.final / IMAGES
        d = self.workdir / IMAGES
        d.mkdir(parents=True, exist_ok=True)
        return d

    def final_path(self, p: AnyPath) -> str:
        """The path a file written under ``workdir`` will have once the stage is renamed into place."""
        if isinstance(p, UriPath):
            return str(p)
        return str(self.run.root / self.dirname / Path(p).relative_to(self.workdir))

    @property
    def dirname(self) -> str:
        if self.final is not None:
            return self.final.name
        return self.workdir.name.split(".", 2)[1] if self.workdir.name.startswith(".") else self.workdir.name


def fingerprint(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_hash(path: AnyPath) -> str:
    h = hashlib.sha1()
    if isinstance(path, UriPath):
        h.update(path.read_bytes())
        return h.hexdigest()[:16]
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


PROBE_BYTES = 1 << 16  # written and removed before a stage starts: a full disk fails now, not after it


def writable(work: Path) -> None:
    """Create the stage's temp folder and write a probe file in it; a :class:`RunError` saying why not."""
    try:
        work.mkdir(parents=True)
        probe = work / ".write-test"
        with open(probe, "wb") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise RunError(f"{work.parent}: cannot write to the run folder: {describe_os_error(e)}") from None


HOST = socket.gethostname()


def stale(tmp: Path) -> bool:
    """A stage's temp folder ``.NN-<stage>.<pid>@<host>.tmp`` whose owner process is gone (on this host;
    another host's is left alone, as this one cannot tell)."""
    owner = tmp.name.split(".", 2)[-1].removesuffix(".tmp")
    pid, _, host = owner.partition("@")
    if not pid.isdigit():
        return True  # not a name this code writes
    if host and host != HOST:
        return False
    return not runlock.pid_alive(int(pid))


class Run:
    """A run directory, local or on object storage (any ``pyarrow.fs`` URI). Stages are numbered in the
    order they first ran."""

    def __init__(self, root: str | os.PathLike | UriPath):
        self.root: AnyPath = storage.path(root)

    def stages(self) -> list[tuple[int, str, AnyPath]]:
        """Complete stages, in order: ``(number, name, path)``."""
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise RunError(f"{self.root}: --run is a file, not a run folder")
        out = []
        for p in self.root.iterdir():
            m = _STAGE_DIR.match(p.name)
            if m and p.is_dir() and (p / MANIFEST).exists() and (p / REPORT).exists():
                out.append((int(m.group(1)), m.group(2), p))
        return sorted(out)

    def make_root(self) -> None:
        """Create the run folder; a :class:`RunError` when ``--run`` is a file or cannot be created."""
        if self.root.exists() and not self.root.is_dir():
            raise RunError(f"{self.root}: --run is a file, not a run folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"{self.root}: cannot create the run folder: {describe_os_error(e)}") from None

    @contextmanager
    def writing(self, *, wait: bool = False) -> Iterator[None]:
        """Hold the run's lock for a whole command (several stages); a second writer is refused or waits."""
        if isinstance(self.root, UriPath):
            yield
            return
        self.make_root()
        with runlock.hold(self.root, wait=wait):
            yield

    def stage_dir(self, name: str) -> AnyPath | None:
        for _, n, p in self.stages():
            if n == name:
                return p
        return None

    def latest(self) -> AnyPath:
        """The newest complete stage's folder; a clear error if the run has none."""
        stages = self.stages()
        if not stages:
            raise FileNotFoundError(
                f"{self.root}: no complete stage here; start with `dcai ingest SOURCE --run {self.root}`"
            )
        return stages[-1][2]

    def manifest(self, stage: str | None = None) -> pa.Table:
        p = self.stage_dir(stage) if stage else self.latest()
        if p is None:
            raise FileNotFoundError(f"{self.root}: stage {stage!r} has not run")
        return manifest.read(p / MANIFEST)

    def report(self, stage: str) -> dict:
        p = self.stage_dir(stage)
        return json.loads((p / REPORT).read_text()) if p else {}

    def reports(self) -> list[dict]:
        return [json.loads((p / REPORT).read_text()) for _, _, p in self.stages()]

    def _number_for(self, name: str) -> int:
        existing = self.stage_dir(name)
        if existing is not None:
            return int(existing.name[:2])
        stages = self.stages()
        return stages[-1][0] + 1 if stages else 1

    def input_for(self, name: str) -> AnyPath | None:
        """The manifest a stage reads: the one of the stage numbered just before it."""
        number = self._number_for(name)
        before = [p for n, _, p in self.stages() if n < number]
        return before[-1] / MANIFEST if before else None

    def execute(
        self,
        name: str,
        fn: Callable[[pa.Table | None, StageContext], StageOutput],
        *,
        config: Any = None,
        extra_key: Any = None,
        force: bool = False,
        needs_input: bool = True,
    ) -> tuple[AnyPath, dict, bool]:
        """Run stage ``name`` unless its output is up to date. Returns ``(dir, report, ran)``.

        A local run is locked for the stage (:mod:`dcai.runlock`): a second writer is refused, naming
        the first, unless the caller already holds the lock (the CLI holds it for a whole command)."""
        self.make_root()
        if isinstance(self.root, UriPath):
            return self._execute(
                name, fn, config=config, extra_key=extra_key, force=force, needs_input=needs_input
            )
        with runlock.hold(self.root):
            return self._execute(
                name, fn, config=config, extra_key=extra_key, force=force, needs_input=needs_input
            )

    def _execute(
        self,
        name: str,
        fn: Callable[[pa.Table | None, StageContext], StageOutput],
        *,
        config: Any,
        extra_key: Any,
        force: bool,
        needs_input: bool,
    ) -> tuple[AnyPath, dict, bool]:
        in_path = self.input_for(name)
        if needs_input and in_path is None:
            raise FileNotFoundError(
                f"{self.root}: stage {name!r} needs an earlier stage; run `dcai ingest` first"
            )
        key = fingerprint(
            {
                "stage": name,
                "input": file_hash(in_path) if in_path else None,
                "config": config,
                "extra": extra_key,
            }
        )
        number = self._number_for(name)
        final = self.root / f"{number:02d}-{name}"
        if not force and (final / REPORT).exists() and (final / MANIFEST).exists():
            report = json.loads((final / REPORT).read_text())
            if report.get("key") == key:
                return final, report, False
        if isinstance(final, UriPath):
            # An object store renames nothing atomically: the old output goes first, and the stage's
            # report.json, uploaded last, is what makes the new one count (``stages`` needs it).
            storage.rmtree(final)
            work = Path(tempfile.mkdtemp(prefix=f"dcai-{number:02d}-{name}."))
        else:
            # A killed earlier attempt leaves its temp folder behind; it was never complete, so drop it,
            # but only once its owner is gone: a live one belongs to a writer that is still at work.
            root = storage.local(self.root, "a local run")
            for tmp in root.glob(f".{number:02d}-{name}.*.tmp"):
                if stale(tmp):
                    shutil.rmtree(tmp, ignore_errors=True)
            work = root / f".{number:02d}-{name}.{os.getpid()}@{HOST}.tmp"
            writable(work)
        started = time.time()
        try:
            table_in = manifest.read(in_path) if in_path else None
            out = fn(table_in, StageContext(run=self, name=name, workdir=work, final=final))
            if table_in is not None and out.table.num_rows < table_in.num_rows:
                raise manifest.ManifestError(
                    f"stage {name!r} returned {out.table.num_rows} rows for {table_in.num_rows}: stages never delete rows"
                )
            manifest.write(out.table, work / MANIFEST)
            report = {
                "stage": name,
                "number": number,
                "key": key,
                "input": str(in_path) if in_path else None,
                "config": config,
                "started": started,
                "seconds": round(time.time() - started, 3),
                "rows": out.table.num_rows,
                "counts": manifest.counts(out.table),
                **out.metrics,
            }
            text = json.dumps(report, indent=2, default=str)
            if isinstance(final, UriPath):
                storage.upload_tree(work, final)
                (final / REPORT).write_text(text)
                return final, report, True
            (work / REPORT).write_text(text)
            # Swap in atomically: the old output (if any) is moved aside first, then removed.
            old = None
            if final.exists():
                old = final.with_name(f".{final.name}.old.{os.getpid()}")
                os.replace(final, old)
            os.replace(work, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return final, report, True
