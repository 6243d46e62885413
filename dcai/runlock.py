"""One writer per run: ``RUN/.lock``, held (``flock``) by the command that writes the run, holds who that
is (pid, host, command, since when). A second writer is refused with that name, or waits (``--wait``).

The kernel drops a ``flock`` when its process dies, so a killed command leaves no stale lock; the file's
text only names the holder. Reentrant within a process: the CLI holds the lock for a whole command and
each stage it runs takes it again. A run on object storage has no lock (a store has no ``flock``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dcai.errors import InputError, RunError, describe_os_error

LOCK = ".lock"
_held: dict[str, int] = {}  # run folder -> how deep this process holds its lock


class RunLocked(InputError):
    """Another command is writing the run; the message names it."""


def holder(root: Path) -> dict:
    """What the lock file says about its holder (``{}`` when it says nothing readable)."""
    try:
        data = json.loads((root / LOCK).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict) -> str:
    if not info:
        return "another dcai command (it has not said who yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("time", 0)))
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}), since {since}"


def _acquire(fd: int, root: Path, wait: bool) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    who = describe(holder(root))
    if not wait:
        os.close(fd)
        raise RunLocked(
            f"{root}: another command is writing this run: {who}; wait for it to end, or pass --wait"
        )
    print(f"waiting for {root / LOCK}: held by {who}", file=sys.stderr, flush=True)
    fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def hold(root: Path, *, wait: bool = False, command: str | None = None) -> Iterator[None]:
    """Hold the run's lock for the block: refuse (:class:`RunLocked`) or wait when another process holds it."""
    key = str(root)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunError(f"{root}: cannot write to the run folder: {describe_os_error(e)}") from None
    _acquire(fd, root, wait)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or " ".join(["dcai", *sys.argv[1:]]),
            "time": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError as e:  # a full disk: say so here, with the folder, not as a bare OSError
            raise RunError(f"{root}: cannot write to the run folder: {describe_os_error(e)}") from None
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # releases the flock


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this machine (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
