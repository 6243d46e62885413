"""One writer per run: a second process is refused naming the first, or waits; temp folders are stale
only once their owner process is gone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcai import manifest, runlock
from dcai.runs import HOST, Run, StageOutput
from tests.helpers import lock_holder


def _ingest(t, ctx):
    rows = [{"id": "a", "uri": "/u/a", "label": "i", "split": "train", "origin": "original"}]
    return StageOutput(manifest.from_rows(rows))


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path):
    root = tmp_path / "run"
    root.mkdir()
    proc = lock_holder(root)
    try:
        with pytest.raises(runlock.RunLocked, match=rf"pid {proc.pid} on {HOST} \(dcai vote --run R\)"):
            Run(root).execute("ingest", _ingest, needs_input=False)
        assert Run(root).stages() == []
    finally:
        proc.communicate("")
    Run(root).execute("ingest", _ingest, needs_input=False)  # the lock went with its process
    assert [n for _, n, _ in Run(root).stages()] == ["ingest"]


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path):
    run = Run(tmp_path / "run")
    with run.writing():
        run.execute("ingest", _ingest, needs_input=False)
        run.execute("ingest", _ingest, needs_input=False, force=True)
    assert runlock.holder(run.root)["command"].startswith("dcai")


def test_a_waiting_writer_goes_on_when_the_first_ends(tmp_path: Path, monkeypatch):
    import io
    import threading

    root = tmp_path / "run"
    root.mkdir()
    proc = lock_holder(root)
    # the waiting writer's stderr, read without truncating (capsys.readouterr() drops a line written
    # between its read and its reset: the message can be lost under load)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    done: list = []
    t = threading.Thread(target=_wait_and_run, args=(root, done))
    t.start()
    deadline = time.time() + 60
    while "waiting for" not in err.getvalue() and time.time() < deadline:  # it says so once the lock is held
        time.sleep(0.05)
    assert f"held by pid {proc.pid}" in err.getvalue() and not done
    proc.communicate("")
    t.join(timeout=60)
    assert done and [n for _, n, _ in Run(root).stages()] == ["ingest"]


def _wait_and_run(root: Path, done: list) -> None:
    with Run(root).writing(wait=True):
        done.append(Run(root).execute("ingest", _ingest, needs_input=False))


def test_temp_folders_are_stale_only_when_their_owner_is_gone(tmp_path: Path):
    run = Run(tmp_path / "run")
    run.execute("ingest", _ingest, needs_input=False)
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    live_tmp = run.root / f".02-next.{alive.pid}@{HOST}.tmp"
    dead_tmp = run.root / f".02-next.{int(dead.stdout)}@{HOST}.tmp"
    other_host = run.root / ".02-next.1@another-host.tmp"
    for d in (live_tmp, dead_tmp, other_host):
        d.mkdir()
    try:
        run.execute("next", lambda t, ctx: StageOutput(t))
        assert live_tmp.exists() and other_host.exists() and not dead_tmp.exists()
    finally:
        alive.communicate(b"")
