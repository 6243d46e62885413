"""The local head's pieces that need no Ray: distinct free ports, a short temp dir, its processes found by
temp dir with their children, and the line that says which Ray a command uses."""

from __future__ import annotations

import subprocess
import sys
import time

from dcai import localray
from dcai.ray_runtime import which_ray


def test_ports_are_distinct_and_the_worker_range_is_free():
    p = localray.ports()
    singles = [v for k, v in p.items() if not k.endswith("worker-port")]
    assert len(set(singles)) == len(singles) == 9
    workers = range(p["min-worker-port"], p["max-worker-port"] + 1)
    assert len(workers) == localray.WORKER_PORTS and not set(singles) & set(workers)


def test_temp_dir_fits_a_unix_socket_path():
    assert len(str(localray.temp_dir())) <= localray.MAX_TEMP_LEN or str(localray.temp_dir()).startswith(
        "/tmp/"
    )


def test_processes_are_found_by_marker_with_their_children(tmp_path):
    marker = str(tmp_path / "marker-dir")
    child = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import sys; sys.stdin.read()'])"
    parent = subprocess.Popen([sys.executable, "-c", child, marker], stdin=subprocess.PIPE)
    try:
        found: list[int] = []
        deadline = time.time() + 60
        while (
            len(found) < 2 and time.time() < deadline
        ):  # the parent and the grandchild it starts (which does not name the marker)
            found = localray.pids_under(marker)
        assert parent.pid in found
        assert localray.stop(marker) == 2 and not localray.pids_under(marker)
    finally:
        parent.kill()
        parent.wait()


def test_which_ray_names_the_head_or_an_own_instance(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert which_ray().startswith("ray: an own local instance")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    assert which_ray() == "ray: the head at 127.0.0.1:6380 (RAY_ADDRESS)"
