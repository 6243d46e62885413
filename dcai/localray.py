"""``make ray-up`` / ``make submit`` / ``make ray-down``: a local Ray head that coexists with any other Ray
on the machine.

``up`` starts ``ray start --head`` on free loopback ports (GCS, dashboard, every agent and worker port)
with its own ``--temp-dir``, and writes ``runs/.ray/head.json`` (address, dashboard URL, temp dir).
``down`` stops only the processes of that head (found by its temp dir in their command lines, and their
children); ``ray stop`` would stop every Ray on the host, other users' runs included. No Ray import here:
this drives the ``ray`` command line.

    python -m dcai.localray up [--num-cpus N] | down | dashboard | address
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("DCAI_RAY_STATE") or ROOT / "runs" / ".ray")  # tests point it elsewhere
HEAD = STATE / "head.json"
RAY = str(Path(sys.executable).parent / "ray")
# A Ray session's unix sockets live at TEMP/session_<date>_<pid>/sockets/<name>, and a socket path may
# not exceed 107 bytes: a deep checkout takes its temp dir under /tmp instead.
MAX_TEMP_LEN = 40
WORKER_PORTS = 200  # one per worker process; a head with 16 CPUs and Ray Data / Tune stays well under


class LocalRayError(RuntimeError):
    """The local head cannot be started, found or stopped; the message says why."""


def temp_dir() -> Path:
    own = STATE / "tmp"
    if len(str(own)) <= MAX_TEMP_LEN:
        return own
    return Path("/tmp") / f"dcai-ray-{hashlib.sha1(str(STATE).encode()).hexdigest()[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_range(n: int, *, low: int = 20_000, high: int = 60_000, tries: int = 50) -> int:
    """The first port of ``n`` consecutive free ports, outside the kernel's ephemeral range's usual start."""
    rng = random.Random()
    for _ in range(tries):
        base = rng.randrange(low, high - n)
        if all(_port_free(p) for p in range(base, base + n)):
            return base
    raise LocalRayError(f"no {n} consecutive free ports found between {low} and {high}")


def ports() -> dict[str, int]:
    """Distinct free ports for every service ``ray start --head`` opens."""
    names = [
        "port",
        "dashboard-port",
        "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port",
        "metrics-export-port",
        "runtime-env-agent-port",
        "node-manager-port",
        "object-manager-port",
        "ray-client-server-port",
    ]
    out: dict[str, int] = {}
    while len(out) < len(names):
        p = free_port()
        if p not in out.values():
            out[names[len(out)]] = p
    base = free_range(WORKER_PORTS)
    out["min-worker-port"], out["max-worker-port"] = base, base + WORKER_PORTS - 1
    return out


def pids_under(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (the head's temp dir), and all their descendants."""
    parents: dict[int, int] = {}
    hits: set[int] = set()
    zombies: set[int] = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if marker.encode() in (d / "cmdline").read_bytes():
                hits.add(int(d.name))
            state, ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            parents[int(d.name)] = int(ppid)
            if state == "Z":  # exited, waiting for its parent to reap it: nothing left to stop
                zombies.add(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    found = set(hits)
    grew = True
    while grew:
        kids = {pid for pid, ppid in parents.items() if ppid in found and pid not in found}
        found |= kids
        grew = bool(kids)
    return sorted(found - zombies)


def read_head() -> dict | None:
    try:
        return json.loads(HEAD.read_text())
    except (OSError, ValueError):
        return None


def up(num_cpus: int | None = None) -> dict:
    """Start the head; its description (also written to ``runs/.ray/head.json``)."""
    head = read_head()
    if head and pids_under(head["temp_dir"]):
        raise LocalRayError(
            f"a head of this checkout is up already at {head['address']} (make ray-down stops it)"
        )
    tmp = temp_dir()
    tmp.mkdir(parents=True, exist_ok=True)
    p = ports()
    cmd = [RAY, "start", "--head", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
           f"--temp-dir={tmp}", f"--num-cpus={num_cpus or os.cpu_count() or 1}", "--disable-usage-stats",
           *(f"--{k}={v}" for k, v in p.items())]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        stop(str(tmp))
        raise LocalRayError(
            f"ray start failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    head = {
        "address": f"127.0.0.1:{p['port']}",
        "dashboard": f"http://127.0.0.1:{p['dashboard-port']}",
        "temp_dir": str(tmp),
        "ports": p,
        "started": time.time(),
    }
    STATE.mkdir(parents=True, exist_ok=True)
    HEAD.write_text(json.dumps(head, indent=1))
    _wait_for_jobs(head["dashboard"])
    return head


def _wait_for_jobs(url: str, timeout: float = 90.0) -> None:
    """The job server answers a little after ``ray start`` returns."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        probe = subprocess.run([RAY, "job", "list", "--address", url], capture_output=True, text=True)
        if probe.returncode == 0:
            return
        time.sleep(1)
    raise LocalRayError(f"the head's job server at {url} did not answer within {timeout:.0f} s")


def stop(marker: str, *, grace: float = 10.0) -> int:
    """SIGTERM, then (after ``grace`` seconds) SIGKILL, the processes under ``marker``; how many there were."""
    first = pids_under(marker)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids_under(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while pids_under(marker) and time.time() < deadline:
            time.sleep(0.2)
    return len(first)


def down() -> int:
    head = read_head()
    if head is None:
        raise LocalRayError(f"no head of this checkout to stop ({HEAD} not found; make ray-up starts one)")
    n = stop(head["temp_dir"])
    HEAD.unlink(missing_ok=True)
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dcai.localray", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["up", "down", "dashboard", "address"])
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs the head offers (default: all)")
    args = p.parse_args(argv)
    try:
        if args.action == "up":
            head = up(args.num_cpus)
            print(
                f"ray head up at {head['address']}, dashboard {head['dashboard']}, temp dir {head['temp_dir']}"
            )
            print(
                f"jobs: make submit JOB=... ARGS=...; dcai commands join it with RAY_ADDRESS={head['address']}"
            )
        elif args.action == "down":
            print(f"stopped this checkout's ray head ({down()} processes); other Ray instances untouched")
        else:
            found = read_head()
            if found is None:
                raise LocalRayError(f"no head of this checkout ({HEAD} not found): run make ray-up first")
            print(found["dashboard" if args.action == "dashboard" else "address"])
    except LocalRayError as e:
        print(f"dcai.localray {args.action}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
