"""The cluster configs parse and keep the properties the README promises (token auth, CPU head, GPU workers)."""

from pathlib import Path

import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def test_launcher_has_cpu_head_and_autoscaling_gpu_workers():
    cfg = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] == "head" and "gpu_worker" in types
    assert types["gpu_worker"]["min_workers"] == 0 < types["gpu_worker"]["max_workers"]
    assert all(
        "RAY_AUTH_MODE=token" in c
        for c in cfg["head_start_ray_commands"][1:] + cfg["worker_start_ray_commands"][1:]
    )


def test_kuberay_manifests_enable_token_auth():
    cluster = yaml.safe_load((CLUSTER / "kuberay" / "raycluster.yaml").read_text())
    job = yaml.safe_load((CLUSTER / "kuberay" / "rayjob.yaml").read_text())
    assert cluster["kind"] == "RayCluster" and cluster["spec"]["authOptions"]["mode"] == "token"
    assert job["kind"] == "RayJob" and job["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
    gpu = next(g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "ray_jobs/pipeline.py" in job["spec"]["entrypoint"]


def test_job_runtime_envs_are_valid():
    for f in (CLUSTER / "jobs").glob("*.yaml"):
        env = yaml.safe_load(f.read_text())
        assert isinstance(env, dict) and env.get("working_dir"), f
