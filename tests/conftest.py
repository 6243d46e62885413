"""Shared fixtures: the real competition data (skip when absent), one local Ray per session, CUDA marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROMAN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dcai-roman"


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA (gpu marker)")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def roman() -> Path:
    """The competition data at ../shared/data/dcai-roman; the test is skipped where it is absent."""
    if not (ROMAN / "train").is_dir():
        pytest.skip(f"competition data not found at {ROMAN}")
    return ROMAN


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs, no dashboard, loopback only) shared by every integration test."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    from dcai.ray_runtime import init_ray

    if not ray.is_initialized():
        init_ray(num_cpus=2)
    yield ray
