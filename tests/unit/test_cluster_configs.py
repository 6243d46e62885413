"""The cluster configs work as shipped: Ray's own validation, a published image, every dependency in
every runtime env, shared storage on every node, token auth on."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
IMAGE = re.compile(r"^rayproject/ray:(\d+\.\d+\.\d+)-py3\d+-gpu$")  # ray-ml images stopped after 2.49


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> dict[str, str]:
    """``{canonical name: requirement}`` of pyproject.toml's dependencies."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_canon(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0]): d for d in deps}


def _kuberay() -> dict[str, list[dict]]:
    return {
        f.name: list(yaml.safe_load_all(f.read_text())) for f in sorted((CLUSTER / "kuberay").glob("*.yaml"))
    }


def _pod_templates(doc: dict) -> list[dict]:
    spec = doc["spec"].get("rayClusterSpec", doc["spec"])
    return [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]


def test_launcher_passes_rays_own_config_validation():
    """What `ray up` runs before it talks to the cloud: defaults filled in, then the JSON schema."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    validate_config(prepare_config(cfg))
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] == "head" and "gpu_worker" in types
    assert types["gpu_worker"]["min_workers"] == 0 < types["gpu_worker"]["max_workers"]
    assert all(
        "RAY_AUTH_MODE=token" in c
        for c in cfg["head_start_ray_commands"][1:] + cfg["worker_start_ray_commands"][1:]
    )
    assert "--env RAY_AUTH_MODE=token" in cfg["docker"]["run_options"]


def test_every_config_pulls_a_published_ray_image_of_the_pinned_version():
    import ray

    launcher = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    images = [launcher["docker"]["image"]]
    for docs in _kuberay().values():
        for doc in docs:
            if doc["kind"] in ("RayCluster", "RayJob"):
                spec = doc["spec"].get("rayClusterSpec", doc["spec"])
                assert spec["rayVersion"] == ray.__version__
                images += [c["image"] for t in _pod_templates(doc) for c in t["spec"]["containers"]]
    assert len(images) > 4
    for image in images:
        m = IMAGE.match(image)
        assert m and m.group(1) == ray.__version__, image
    assert not any("rayproject/ray-ml" in f.read_text() for f in CLUSTER.rglob("*") if f.is_file())


def test_runtime_envs_install_every_dependency_but_ray():
    """The image has Ray only: each job's runtime env must bring everything else pyproject.toml needs."""
    want = {k: v for k, v in _requirements().items() if k != "ray"}
    envs = {f.name: yaml.safe_load(f.read_text()) for f in sorted((CLUSTER / "jobs").glob("*.yaml"))}
    job = next(d for d in _kuberay()["rayjob.yaml"] if d["kind"] == "RayJob")
    envs["rayjob.yaml"] = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert len(envs) >= 7
    for name, env in envs.items():
        got = {_canon(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0]): d for d in env["pip"]}
        assert got == want, f"{name}: pip differs from pyproject.toml"
        assert env.get("working_dir"), name


def test_every_third_party_import_is_a_declared_dependency():
    """Lazy imports included: a job that imports numba or pyspng in a worker needs them on every node."""
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    declared = set(_requirements())
    missing = {}
    for f in [*(ROOT / "dcai").rglob("*.py"), *(ROOT / "ray_jobs").rglob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"dcai"}:
                owners = {_canon(d) for d in dists.get(top, [top])}
                if not owners & declared:
                    missing.setdefault(top, f.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not in pyproject.toml dependencies: {missing}"


def test_launcher_and_kuberay_mount_shared_storage_on_every_node():
    launcher = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    assert "--volume /mnt/shared:/mnt/shared" in launcher["docker"]["run_options"]
    assert any("mount -t nfs4" in c and "/mnt/shared" in c for c in launcher["initialization_commands"])
    for name, docs in _kuberay().items():
        claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
        assert all(c["spec"]["accessModes"] == ["ReadWriteMany"] for c in claims.values()), name
        for doc in docs:
            if doc["kind"] not in ("RayCluster", "RayJob"):
                continue
            for t in _pod_templates(doc):
                vols = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in t["spec"]["volumes"]}
                for c in t["spec"]["containers"]:
                    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                    assert vols[mounts["/mnt/shared"]] in claims, (name, c["name"])


def test_kuberay_manifests_enable_token_auth():
    docs = _kuberay()
    cluster = next(d for d in docs["raycluster.yaml"] if d["kind"] == "RayCluster")
    job = next(d for d in docs["rayjob.yaml"] if d["kind"] == "RayJob")
    assert cluster["spec"]["authOptions"]["mode"] == "token"
    assert job["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
    gpu = next(g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # the RayJob has a GPU group at zero replicas: its recipe must ask for GPUs, or none ever starts
    assert "ray_jobs/pipeline.py competition-gpu.yaml" in " ".join(job["spec"]["entrypoint"].split())
