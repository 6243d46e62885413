"""A real multi-node Ray cluster on one machine: a head and worker nodes, each its own ``ray start``
(``--address`` for the workers) with its own resources, all on 127.0.0.1, token authentication on.

Each node has its own temp dir under the cluster's, so one node's processes can be found (and a worker
node removed) by that path alone, without touching any other Ray on the machine.

    python -m tests.local_cluster up [--workers 2] [--dir /tmp/dcai-cluster]   # prints the env to export
    python -m tests.local_cluster down [--dir /tmp/dcai-cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dcai import localray
from dcai.localray import free_port

BIN = Path(sys.executable).parent
STATE = "cluster.json"


# Tests stop their nodes after a short SIGTERM grace (`make ray-down` gives a user's head 10 s).
GRACE = 3.0


@dataclass
class LocalCluster:
    """A started cluster: ``env`` carries the token for ``ray job submit`` and the state API."""

    root: Path
    gcs: str  # 127.0.0.1:PORT, what `ray start --address` and drivers join
    dashboard: str  # http://127.0.0.1:PORT, the job server and the state API
    env: dict[str, str]
    nodes: dict[str, str] = field(default_factory=dict)  # name -> the node's temp dir

    def _get(self, path: str, params: dict | None = None):
        """GET on the dashboard with the cluster's token: in this process, so each poll costs a request, not
        a `ray` CLI process competing with the cluster for the machine's two cores, and this process's own
        Ray settings (auth mode, token) stay untouched."""
        import urllib.error
        import urllib.parse
        import urllib.request

        token = Path(self.env["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
        url = self.dashboard + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"GET {path}: HTTP {e.code} {e.read()[-2000:]!r}") from e

    def state(self, what: str, *filters: str) -> list[dict]:
        """Ray's state API (what ``ray list WHAT --detail`` asks, filters like ``"state=ALIVE"``)."""
        pairs = [f.split("=", 1) for f in filters]
        params = {"limit": 10000, "detail": "true", "timeout": 60, "filter_keys": [k for k, _ in pairs],
                  "filter_predicates": ["="] * len(pairs), "filter_values": [v for _, v in pairs]}  # fmt: skip
        answer = self._get(f"/api/v0/{what}", params)
        if answer.get("result") is False:
            raise RuntimeError(f"ray list {what}: {answer.get('msg')}")
        return answer["data"]["result"]["result"]

    def job_status(self, submission_id: str) -> str:
        """``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED`` or ``STOPPED`` (the job server's answer)."""
        return str(self._get(f"/api/jobs/{submission_id}")["status"])

    def node_ids(self) -> dict[str, str]:
        """``{node name: Ray node id}`` of the alive nodes, by each node's custom resource."""
        out = {}
        for n in self.state("nodes", "state=ALIVE"):
            names = [k.removeprefix("dcai-") for k in n["resources_total"] if k.startswith("dcai-")]
            if names:
                out[names[0]] = n["node_id"]
        return out

    def remove_node(self, name: str) -> None:
        """Kill one worker node outright (raylet, its workers and agents): a machine that went away."""
        localray.stop(self.nodes[name], grace=0.0)

    def stop(self) -> None:
        localray.stop(str(self.root), grace=GRACE)
        shutil.rmtree(self.root, ignore_errors=True)


def _ray_start(args: list[str], env: dict, temp_dir: Path) -> None:
    temp_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "ray"), "start", *args, f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


def _node_ports(index: int) -> list[str]:
    """Ports of one node, all free now; worker ports in a band of their own, so nodes never share one."""
    lo = 21000 + 500 * index  # below the ephemeral range, where free_port() never lands
    return [
        "--node-ip-address=127.0.0.1",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--min-worker-port={lo}",
        f"--max-worker-port={lo + 499}",
    ]


def start(root: Path, *, workers: int = 2, cpus_per_node: int = 1) -> LocalCluster:
    """A head and ``workers`` worker nodes, ``cpus_per_node`` CPUs each, under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    token_file = root / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        # "0" (single node, loopback) makes `ray start --address` refuse a second node. With "1", Ray turns
        # --node-ip-address=127.0.0.1 into this machine's own address for the nodes' internal endpoints;
        # the dashboard / job server and every port chosen here stay on 127.0.0.1.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
        # a removed node is found dead in ~3 s instead of Ray's default ~15 s (period 3 s × 5 failures)
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_timeout_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
        # Right after a node goes, Ray Train may still see its CPU and wait for a worker group that cannot
        # start; it gives up and resizes after this many seconds (default 60)
        "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "20",
    }
    env.pop("RAY_ADDRESS", None)
    port, dash = free_port(), free_port()
    cluster = LocalCluster(root=root, gcs=f"127.0.0.1:{port}", dashboard=f"http://127.0.0.1:{dash}", env=env)
    try:
        head = root / "head"
        cluster.nodes["head"] = str(head)
        _ray_start(
            [
                "--head",
                f"--port={port}",
                f"--num-cpus={cpus_per_node}",
                "--resources=" + json.dumps({"dcai-head": 1}),
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={dash}",
                f"--ray-client-server-port={free_port()}",
                *_node_ports(0),
            ],
            env,
            head,
        )
        for i in range(1, workers + 1):
            name = f"w{i}"
            cluster.nodes[name] = str(root / name)
            _ray_start(
                [
                    f"--address={cluster.gcs}",
                    f"--num-cpus={cpus_per_node}",
                    "--resources=" + json.dumps({f"dcai-{name}": 1}),
                    *_node_ports(i),
                ],
                env,
                root / name,
            )
        _wait_for_jobs_api(cluster, nodes=workers + 1)
    except BaseException:
        cluster.stop()
        raise
    (root / STATE).write_text(json.dumps({"gcs": cluster.gcs, "dashboard": cluster.dashboard}))
    return cluster


def _wait_for_jobs_api(cluster: LocalCluster, *, nodes: int, timeout: float = 90.0) -> None:
    """The job server comes up a little after `ray start` returns, and worker nodes register later."""
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        try:
            cluster._get("/api/jobs/")
            if len(cluster.node_ids()) == nodes:
                return
        except Exception as e:  # the job server and the state API answer a little after `ray start`
            last = str(e)
        time.sleep(1)
    raise RuntimeError(f"cluster at {cluster.dashboard} did not come up with {nodes} nodes: {last}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.local_cluster")
    p.add_argument("action", choices=["up", "down"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("--dir", default="/tmp/dcai-cluster")
    args = p.parse_args(argv)
    root = Path(args.dir)
    if args.action == "down":
        localray.stop(str(root), grace=GRACE)
        shutil.rmtree(root, ignore_errors=True)
        print(f"stopped the cluster under {root}")
        return 0
    if (root / STATE).exists():
        print(f"{root}: a cluster is already up here (`make cluster-down` first)", file=sys.stderr)
        return 2
    c = start(root, workers=args.workers, cpus_per_node=args.cpus_per_node)
    print(f"head + {args.workers} workers on 127.0.0.1 ({args.cpus_per_node} CPU each); to use it:")
    print(f"export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={c.env['RAY_AUTH_TOKEN_PATH']}")
    print(
        f"ray job submit --address {c.dashboard} --working-dir . -- python ray_jobs/vote.py --run $PWD/runs/x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
