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


def collect(ds: Any, *, label: str, total: int, what: str = "images") -> list[pa.Table]:
    """Run the Ray Data pipeline ``ds`` and return its blocks as Arrow tables, as they finish, with a
    progress line now and then (its output rows against ``total``) and a summary line at the end."""
    from dcai.progress import Progress

    progress = Progress(label, total, what)
    tables = []
    for t in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        tables.append(t)
        progress.add(t.num_rows)
    progress.end()
    return tables


def quiet_tune() -> None:
    """Before a Tuner runs: the old console output (the new one ignores ``verbose=0`` and draws tables into
    the stage's log), and no "experiment state snapshotting" warning, which says nothing a user acts on."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def trial_progress(label: str, *, n_trials: int, epochs: int | None = None) -> Any:
    """A Ray Tune callback printing progress: epochs reported of ``n_trials * epochs`` (trials that finish
    early count as done), or trials finished when ``epochs`` is None (an ASHA search stops most early)."""
    from ray import tune

    from dcai.progress import Progress

    class TrialProgress(tune.Callback):
        def __init__(self) -> None:
            total = n_trials * epochs if epochs else n_trials
            self.progress = Progress(label, total, "epochs" if epochs else "trials")
            self.reported: dict[str, int] = {}

        def on_trial_result(self, iteration, trials, trial, result, **info):  # type: ignore[no-untyped-def]
            if epochs:
                self.reported[trial.trial_id] = self.reported.get(trial.trial_id, 0) + 1
                self.progress.add(1)

        def on_trial_complete(self, iteration, trials, trial, **info):  # type: ignore[no-untyped-def]
            if epochs:
                self.progress.add(max(0, epochs - self.reported.get(trial.trial_id, 0)))
            else:
                self.progress.add(1)

        def on_experiment_end(self, trials, **info):  # type: ignore[no-untyped-def]
            self.progress.end()

    return TrialProgress()
