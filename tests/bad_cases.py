"""Bad inputs a new user hits in the first hour, each run through the CLI as a user would
(``python -m dcai ...`` in a subprocess): the test suite (tests/integration/test_bad_inputs.py) and
``bench/bad_inputs.py`` run the same list.

A case builds its files in a fresh folder and says what must come out: exit 2 and a message naming the
file or key, or exit 0 with every planted file quarantined (or skipped) with its reason. Every case
hashes the user's files (everything outside the run directory) before and after: none may change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import QUARANTINED, lock_holder, make_bad_folder, make_good, make_ingested_run, tree_hashes

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Setup:
    """What a case runs and what it expects."""

    argv: list[str]  # after ``python -m dcai``
    expect: list[str]  # fragments that must all appear in stderr (exit 2) or in the quarantine reasons
    watched: Path  # the user's files: hashed before and after
    code: int = 2
    # exit 0 cases: {file name: reason fragment} read from the run's ingest report
    quarantined: dict[str, str] = field(default_factory=dict)
    converted: dict[str, str] = field(default_factory=dict)  # {file name: note fragment}, read the same way
    run: Path | None = None  # the run directory, the one place a command may write (exit 0 cases)
    timeout: float = 120.0
    cleanup: Callable[[], None] | None = None  # undo what the case set up outside tmp (a mount)


class Unavailable(Exception):
    """This machine cannot stage the case (mounting a small or read-only file system needs root)."""


@dataclass
class Case:
    name: str
    build: Callable[[Path], Setup]
    ray: bool = False  # starts a local Ray (slower): the case gets past the checks into a stage
    inputs: int = 1  # how many bad inputs the case tries (a list of bad rows counts each row)


@dataclass
class Outcome:
    name: str
    ok: bool
    code: int | None
    traceback: bool
    files_changed: list[str]
    problems: list[str]
    seconds: float
    inputs: int
    stderr: str = ""


def env() -> dict[str, str]:
    e = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e.pop("RAY_ADDRESS", None)  # a local Ray of its own, never a head someone else started
    return e


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def run_case(case: Case, tmp: Path) -> Outcome:
    """Build the case in ``tmp``, run its command, and check every promise."""
    setup = case.build(tmp)
    try:
        return _run(case, setup)
    finally:
        if setup.cleanup is not None:
            setup.cleanup()


def _run(case: Case, setup: Setup) -> Outcome:
    before = tree_hashes(setup.watched)
    t0 = time.time()
    problems: list[str] = []
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dcai", *setup.argv],
            cwd=ROOT,
            env=env(),
            capture_output=True,
            text=True,
            timeout=setup.timeout,
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code, out = None, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        problems.append(f"no answer within {setup.timeout:.0f} s")
    seconds = time.time() - t0
    after = tree_hashes(setup.watched)
    if setup.run is not None and setup.run.is_relative_to(setup.watched):
        after = {k: v for k, v in after.items() if not (setup.watched / k).is_relative_to(setup.run)}
        before = {k: v for k, v in before.items() if not (setup.watched / k).is_relative_to(setup.run)}
    changed = _changed(before, after)
    traceback = "Traceback" in err or "Traceback" in out
    if code != setup.code and code is not None:
        problems.append(f"exit {code}, expected {setup.code}")
    if setup.code == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        for frag in setup.expect:
            if frag not in err:
                problems.append(f"stderr lacks {frag!r}")
        if len(lines) > 1 and not problems:
            problems.append(f"{len(lines)} lines on stderr, expected one")
    if setup.quarantined:
        problems += _check_quarantine(setup)
    if traceback:
        problems.append("a traceback")
    if changed:
        problems.append(f"{len(changed)} user file(s) changed: {changed[:3]}")
    return Outcome(case.name, not problems, code, traceback, changed, problems, seconds, case.inputs, err)


def _check_quarantine(setup: Setup) -> list[str]:
    assert setup.run is not None
    reports = sorted(setup.run.glob("*-ingest/report.json"))
    if not reports:
        return ["no ingest report"]
    report = json.loads(reports[-1].read_text())
    reasons = {
        Path(q["uri"]).name if "://" not in q["uri"] else q["uri"]: q["reason"] for q in report["quarantine"]
    }
    problems = []
    for name, frag in setup.quarantined.items():
        if name not in reasons:
            problems.append(f"{name} not quarantined")
        elif frag not in reasons[name]:
            problems.append(f"{name}: reason {reasons[name]!r} lacks {frag!r}")
    notes = {Path(c["uri"]).name: c["note"] for c in report["conversions"]}
    for name, frag in setup.converted.items():
        if frag not in notes.get(name, ""):
            problems.append(f"{name}: note {notes.get(name)!r} lacks {frag!r}")
    text = json.dumps(report)
    if "root:x:0" in text:
        problems.append("a quarantine reason quotes a file's contents")
    return problems


# ---- the cases -----------------------------------------------------------------------------------


def _source(tmp: Path, per_class: int = 2) -> Path:
    make_good(tmp / "data", per_class=per_class)
    return tmp / "data"


def export_into_source(tmp: Path) -> Setup:
    src = _source(tmp)
    run = make_ingested_run(tmp / "run", src)
    return Setup(["export", "--run", str(run), "--out", str(src)], [str(src), "--out"], src)


def export_into_parent_of_source(tmp: Path) -> Setup:
    src = _source(tmp)
    run = make_ingested_run(tmp / "runs" / "r", src)
    return Setup(["export", "--run", str(run), "--out", str(tmp)], [str(tmp), "--out"], src)


def export_into_a_folder_of_user_files(tmp: Path) -> Setup:
    src = _source(tmp)
    run = make_ingested_run(tmp / "run", src)
    mine = tmp / "mine"
    (mine / "train").mkdir(parents=True)
    (mine / "train" / "thesis.tex").write_text("years of work")
    return Setup(["export", "--run", str(run), "--out", str(mine)], [str(mine), "not empty"], tmp / "mine")


def pipeline_output_is_input(tmp: Path) -> Setup:
    src = _source(tmp)
    return Setup(
        ["pipeline", "demo.yaml", "--input", str(src), "--output", str(src), "--preset", "tiny"],
        [str(src), "--output overlaps the input"],
        src,
    )


def pipeline_output_inside_input(tmp: Path) -> Setup:
    src = _source(tmp)
    return Setup(
        ["pipeline", "demo.yaml", "--input", str(src), "--output", str(src / "out"), "--preset", "tiny"],
        ["--output overlaps the input"],
        src,
    )


def _config_case(text: str, sets: list[str], expect: list[str], *, verb: str = "pipeline"):
    def build(tmp: Path) -> Setup:
        src = _source(tmp)
        cfg = tmp / "cfg" / "p.yaml"
        cfg.parent.mkdir()
        cfg.write_text(text)
        sets_argv = [a for kv in sets for a in ("--set", kv)]
        if verb == "pipeline":
            argv = ["pipeline", str(cfg), "--input", str(src), "--output", str(tmp / "out"), *sets_argv]
        else:
            run = make_ingested_run(tmp / "run", src)
            argv = [verb, "--run", str(run), "--config", str(cfg), *sets_argv]
        return Setup(argv, expect, tmp / "data")

    return build


def _verb_set_case(verb: str, sets: list[str], expect: list[str]):
    def build(tmp: Path) -> Setup:
        src = _source(tmp)
        run = make_ingested_run(tmp / "run", src)
        return Setup([verb, "--run", str(run), *(a for kv in sets for a in ("--set", kv))], expect, src)

    return build


def pipeline_missing_test(tmp: Path) -> Setup:
    src = _source(tmp)
    return Setup(
        [
            "pipeline",
            "demo.yaml",
            "--input",
            str(src),
            "--output",
            str(tmp / "out"),
            "--test",
            str(tmp / "tset"),
        ],
        [str(tmp / "tset"), "--test not found"],
        src,
    )


def pipeline_missing_input(tmp: Path) -> Setup:
    _source(tmp)
    return Setup(
        ["pipeline", "demo.yaml", "--input", str(tmp / "nope"), "--output", str(tmp / "out")],
        [str(tmp / "nope"), "--input not found"],
        tmp / "data",
    )


def mount_tmpfs(where: Path, *, size: str = "1m", read_only: bool = False) -> Callable[[], None]:
    """A small tmpfs at ``where`` (as root); its unmount. :class:`Unavailable` where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        raise Unavailable(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return lambda: subprocess.run(["umount", "-l", str(where)], capture_output=True) and None


def _fill(where: Path) -> None:
    """Write until the file system is full."""
    try:
        with open(where / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:  # ENOSPC, on a write or on the close that flushes it
        pass


def run_is_a_file(tmp: Path) -> Setup:
    _source(tmp)
    (tmp / "notes.txt").write_text("not a run")
    return Setup(["dedup", "--run", str(tmp / "notes.txt")], [str(tmp / "notes.txt"), "--run is a file"], tmp)


def ingest_run_is_a_file(tmp: Path) -> Setup:
    src = _source(tmp)
    (tmp / "notes.txt").write_text("not a run")
    return Setup(
        ["ingest", str(src), "--run", str(tmp / "notes.txt")],
        [str(tmp / "notes.txt"), "--run is a file"],
        tmp,
    )


def run_on_read_only_disk(tmp: Path) -> Setup:
    src = _source(tmp)
    ro = tmp / "ro"
    if os.geteuid() != 0:
        ro.mkdir()
        ro.chmod(0o555)
        cleanup = lambda: ro.chmod(0o755)  # noqa: E731
        reason = "permission denied"
    else:
        cleanup = mount_tmpfs(ro, read_only=True)
        reason = "read-only file system"
    return Setup(
        ["ingest", str(src), "--run", str(ro / "run")], [str(ro / "run"), reason], src, cleanup=cleanup
    )


def run_on_full_disk(tmp: Path) -> Setup:
    src = _source(tmp)
    full = tmp / "full"
    cleanup = mount_tmpfs(full, size="256k")
    (full / "run").mkdir()
    _fill(full)
    return Setup(
        ["ingest", str(src), "--run", str(full / "run")],
        [str(full / "run"), "no space left"],
        src,
        cleanup=cleanup,
    )


def export_to_full_disk(tmp: Path) -> Setup:
    src = _source(tmp)
    run = make_ingested_run(tmp / "run", src)
    full = tmp / "full"
    cleanup = mount_tmpfs(full, size="256k")
    _fill(full)
    return Setup(
        ["export", "--run", str(run), "--out", str(full / "out")],
        [str(full / "out"), "no space left"],
        src,
        cleanup=cleanup,
    )


def _special_files(folder: Path) -> dict[str, str]:
    """A FIFO and a socket in ``folder``: ``{name: reason fragment}``."""
    import socket

    os.mkfifo(folder / "pipe.png")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(folder / "sock.png"))  # the socket file stays after the close
    return {"pipe.png": "a FIFO (named pipe), not a regular file", "sock.png": "a socket, not a regular file"}


def ingest_bad_folder(tmp: Path) -> Setup:
    """The planted bad files of tests/helpers.make_bad_folder, a FIFO and a socket, in class folders."""
    src = tmp / "data"
    planted = make_bad_folder(src)
    expect = {k: v for k, v in planted.items() if k in QUARANTINED}
    expect |= _special_files(src / "ii")
    return Setup(
        ["ingest", str(src), "--run", str(tmp / "run")], [], src, code=0, quarantined=expect,
        converted={k: v for k, v in planted.items() if k not in QUARANTINED}, run=tmp / "run",
    )  # fmt: skip


def ingest_bad_list(tmp: Path) -> Setup:
    """A CSV list whose bad rows are each quarantined with a reason, the good ones ingested."""
    src = _source(tmp)
    odd = tmp / "odd"
    odd.mkdir()
    (odd / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n")
    expect = _special_files(odd)
    rows = [(str(p), p.parent.name) for p in sorted(src.glob("*/*"))]
    bad = {
        "http://example.invalid/a.png": "unsupported URI scheme 'http'",
        "nosuch://bucket/b.png": "unsupported URI scheme 'nosuch'",
        str(odd / "passwd"): "not an image: no known image format (text",
        "/dev/zero": "a character device, not a regular file",
        str(odd / "missing.png"): "file not found",
        str(odd): "is a directory",
        str(odd / "pipe.png"): "FIFO",
        str(odd / "sock.png"): "socket",
    }
    rows += [(u, "i") for u in bad]
    (tmp / "list.csv").write_text("uri,label\n" + "".join(f"{u},{lab}\n" for u, lab in rows))
    expect = {(u if "://" in u else Path(u).name): frag for u, frag in bad.items()}
    return Setup(
        ["ingest", str(tmp / "list.csv"), "--run", str(tmp / "run")], [], tmp, code=0, quarantined=expect,
        run=tmp / "run",
    )  # fmt: skip


def second_writer(tmp: Path) -> Setup:
    src = _source(tmp)
    run = make_ingested_run(tmp / "run", src)
    holder = lock_holder(run)
    return Setup(
        ["dedup", "--run", str(run)], [str(run), f"another command is writing this run: pid {holder.pid}"], src,
        cleanup=lambda: holder.communicate("") and None,
    )  # fmt: skip


PIPE = "stages: [ingest, dedup, vote, export]\n"

CASES: list[Case] = [
    Case("export --out = the ingested source folder", export_into_source),
    Case("export --out = a folder holding the source", export_into_parent_of_source),
    Case("export --out = a folder of the user's own files", export_into_a_folder_of_user_files),
    Case("pipeline --output = --input", pipeline_output_is_input),
    Case("pipeline --output inside --input", pipeline_output_inside_input),
    Case(
        "config: a misspelt section (ingset:)",
        _config_case(PIPE + "ingset: {}\n", [], ["'ingset'", "'ingest'"]),
    ),
    Case(
        "config: a misspelt stage (exprot)",
        _config_case("stages: [ingest, exprot]\n", [], ["'exprot'", "'export'"]),
    ),
    Case(
        "config: a section of an unlisted stage",
        _config_case(PIPE + "tune: {}\n", [], ["'tune'", "not in stages"]),
    ),
    Case(
        "config: a value of the wrong type",
        _config_case(PIPE + "vote: {folds: many}\n", [], ["vote: folds must be an integer, got 'many'"]),
    ),
    Case(
        "pipeline --set nonsense=3",
        _config_case(PIPE, ["nonsense=3"], ["--set nonsense", "unknown stage 'nonsense'"]),
    ),
    Case(
        "pipeline --set vote.epochs=abc",
        _config_case(PIPE, ["vote.epochs=abc"], ["vote: epochs must be an integer, got 'abc'"]),
    ),
    Case(
        "pipeline --set vote.epoch=3",
        _config_case(PIPE, ["vote.epoch=3"], ["unknown key 'epoch'", "'epochs'"]),
    ),
    Case(
        "vote --set epochs=abc",
        _verb_set_case("vote", ["epochs=abc"], ["vote: epochs must be an integer, got 'abc'"]),
    ),
    Case("vote --set nonsense=3", _verb_set_case("vote", ["nonsense=3"], ["vote: unknown key 'nonsense'"])),
    Case(
        "dedup --config with a wrong type",
        _config_case(
            "dedup: {threshold: high}\n", [], ["dedup: threshold must be a number, got 'high'"], verb="dedup"
        ),
    ),
    Case("pipeline --test DIR that is not there", pipeline_missing_test),
    Case("pipeline --input that is not there", pipeline_missing_input),
    Case("dedup --run pointing at a file", run_is_a_file),
    Case("ingest --run pointing at a file", ingest_run_is_a_file),
    Case("ingest --run on a read-only file system", run_on_read_only_disk),
    Case("ingest --run on a full disk", run_on_full_disk),
    Case("export --out on a full disk", export_to_full_disk),
    Case("a second writer on a run another command holds", second_writer),
    Case("ingest: broken, odd and special files in class folders", ingest_bad_folder, ray=True, inputs=13),
    Case("ingest: bad rows in a CSV list", ingest_bad_list, ray=True, inputs=8),
]
