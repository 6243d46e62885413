"""Start or join Ray once, the same way for the CLI, jobs and tests."""

from __future__ import annotations

import logging
import os


def init_ray(num_cpus: int | None = None) -> None:
    """Join ``RAY_ADDRESS`` when set (a job on a cluster), else start a local Ray on loopback.

    A local runtime on one machine binds to 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) and
    starts no dashboard; a real cluster sets ``RAY_ADDRESS`` and keeps its own network settings.
    """
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        quiet_ray_data()
        return
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
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
