"""Two writers on one run, through the CLI: the second is refused naming the first, or waits (--wait);
the stage is complete and valid either way."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from dcai import manifest, runlock
from dcai.runs import Run
from tests.bad_cases import ROOT, env
from tests.helpers import lock_holder, make_good, make_ingested_run


def _dcai(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dcai", *argv], cwd=ROOT, env=env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def _valid(run: Path) -> None:
    r = Run(run)
    assert [n for _, n, _ in r.stages()] == ["ingest", "dedup"]
    manifest.validate(r.manifest("dedup"))
    assert r.manifest("dedup").num_rows == r.manifest("ingest").num_rows
    assert not list(run.glob(".*.tmp")) and not list(run.glob(".*.old.*"))


def test_second_writer_is_refused_or_waits(tmp_path: Path):
    make_good(tmp_path / "data", per_class=3)
    run = make_ingested_run(tmp_path / "run", tmp_path / "data")

    holder = lock_holder(run)  # another command writing the run
    try:
        refused = _dcai("dedup", "--run", str(run))
        out, err = refused.communicate(timeout=120)
        assert refused.returncode == 2, err
        assert f"another command is writing this run: pid {holder.pid}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        waiting = _dcai("dedup", "--run", str(run), "--wait")
        assert waiting.stderr is not None
        assert "waiting for" in waiting.stderr.readline()  # it found the lock held, and said so
    finally:
        holder.communicate("")
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err[-3000:]
    _valid(run)

    # two real commands at once: the second is refused (naming the first) unless the first has ended
    first = _dcai("dedup", "--run", str(run), "--force")
    deadline = time.time() + 120
    while runlock.holder(run).get("pid") != first.pid and time.time() < deadline:
        assert first.poll() is None, first.communicate()[1][-3000:]
        time.sleep(0.05)
    second = _dcai("dedup", "--run", str(run), "--force")
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1[-3000:]
    assert second.returncode == 0 or (second.returncode == 2 and f"pid {first.pid}" in err2), err2[-3000:]
    assert "Traceback" not in err1 + err2
    _valid(run)
