"""Unit tests never start Ray: any call to ``ray.init`` fails the test."""

import pytest


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch):
    try:
        import ray
    except ImportError:
        return

    def refuse(*args, **kwargs):
        raise RuntimeError("unit tests must not start Ray: move this test to tests/integration/")

    monkeypatch.setattr(ray, "init", refuse)
