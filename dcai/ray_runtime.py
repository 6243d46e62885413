"""Start or join Ray once, the same way for the CLI, jobs and tests; and the per-class task fan-out."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import pyarrow as pa

LOOPBACK = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a local Ray binds every service to 127.0.0.1


def which_ray() -> str:
    """The line a command prints first: the Ray it will use (without starting or importing Ray)."""
    address = os.environ.get("RAY_ADDRESS")
    if address:
        return f"ray: the head at {address} (RAY_ADDRESS)"
    return "ray: an own local instance on 127.0.0.1 (set RAY_ADDRESS to join a head instead)"


def init_ray(num_cpus: int | None = None) -> None:
    """Join ``RAY_ADDRESS`` when set (a job on a cluster), else start a local Ray of its own on loopback.

    A local runtime on one machine binds to 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) and
    starts no dashboard; a real cluster sets ``RAY_ADDRESS`` and keeps its own network settings. Without
    ``RAY_ADDRESS`` it never joins a head that ``ray start`` left on the machine (``address="local"``):
    which Ray a command uses is what :func:`which_ray` said, not what else happens to run.
    """
    if not os.environ.get("RAY_ADDRESS"):
        os.environ.setdefault(LOOPBACK, "0")  # before Ray's first import: Ray reads it then
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        quiet_ray_data()
        return
    if os.environ[LOOPBACK] == "0":
        # Ray read the variable when it was first imported, which may have been before this call (any
        # module that imports ray.data at its top): without this, the local Ray binds to every interface.
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    quiet_ray_data()


def quiet_ray_data() -> None:
    """Progress bars and per-dataset INFO lines drown the stage summaries: keep Ray Data to warnings."""
    import ray
    import ray.data  # noqa: F401  (its import configures the ray.data loggers; quiet them after)

    for name in ["ray.data", *(n for n in logging.root.manager.loggerDict if n.startswith("ray.data."))]:
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def by_class(table: pa.Table, fn: Callable[..., pa.Table], **kwargs: Any) -> pa.Table:
    """``fn(rows of one class, **kwargs)`` once per value of ``label``, as parallel Ray tasks; outputs
    concatenated (balance and split select rows class by class).

    One task per class rather than a Ray Data group-by: the classes are few and known up front, and a
    hash shuffle costs seconds of set-up for what is a sort per class.
    """
    import pyarrow.compute as pc
    import ray

    init_ray()
    task = ray.remote(fn)
    refs = [
        task.remote(table.filter(pc.equal(table.column("label"), c)), **kwargs)
        for c in pc.unique(table.column("label")).to_pylist()
    ]
    return pa.concat_tables(ray.get(refs))
