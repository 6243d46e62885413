"""The local Ray that dcai starts listens on loopback only, however early the process imported Ray."""

import json
import os
import subprocess
import sys

# Ray imported before init_ray (as a module importing ray.data at its top does), the variable unset:
# Ray had already read it, so init_ray must still keep every service on 127.0.0.1.
CHILD = """
import json, ray
from dcai.ray_runtime import init_ray
init_ray(num_cpus=1)
ctx = ray.get_runtime_context()
print(json.dumps({"ip": ray.util.get_node_ip_address(), "gcs": ctx.gcs_address}))
ray.shutdown()
"""


def test_local_ray_binds_loopback_even_when_imported_first():
    env = {
        k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")
    }
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["ip"] == "127.0.0.1"
    assert seen["gcs"].startswith("127.0.0.1:")
