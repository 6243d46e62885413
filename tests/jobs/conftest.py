"""A real Ray head on loopback (``ray start --head`` on free ports) for job-submission tests.

The head gets its own temp dir and token file; teardown stops only the processes of this head, so a
local Ray started by other tests in the same session is left alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dcai.localray import free_port, stop
from tests.local_cluster import GRACE

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ray_head():
    """Yields ``(env, dashboard_url)``; ``env`` carries the head's token for ``ray job submit``."""
    temp_dir = tempfile.mkdtemp(prefix="dcaij-", dir="/tmp")
    token_file = Path(temp_dir) / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
    }
    env.pop("RAY_ADDRESS", None)
    port, dash = free_port(), free_port()
    cmd = [
        str(BIN / "ray"),
        "start",
        "--head",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        stop(temp_dir, grace=GRACE)
        pytest.fail(f"ray start failed:\n{started.stdout}\n{started.stderr}")
    url = f"http://127.0.0.1:{dash}"
    deadline = time.time() + 60
    while time.time() < deadline:  # the job server comes up a little after `ray start` returns
        probe = subprocess.run(
            [str(BIN / "ray"), "job", "list", "--address", url], env=env, capture_output=True, text=True
        )
        if probe.returncode == 0:
            break
        time.sleep(1)
    try:
        yield env, url
    finally:
        stop(temp_dir, grace=GRACE)
        shutil.rmtree(temp_dir, ignore_errors=True)
