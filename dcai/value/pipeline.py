"""Ray wiring of value: the K fold models (checkpoints kept for TracIn) on one elastic Ray ``TorchTrainer``
(``fit_many``, as the vote fits) when Ray is up, else the local engine (``value.engine``); TracIn runs on
the driver (final-layer gradients only: cheap). Around the body in :mod:`dcai.value.value`.

Writes ``NN-value/``: ``value_*`` columns, ``influence.npz`` and the queue of harmful images.
"""

from __future__ import annotations

from dcai.train.pipeline import run_fold_stage
from dcai.value.config import ValueConfig
from dcai.value.value import STAGE, value


def run(run_dir: str, cfg: ValueConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Value the latest manifest of ``run_dir`` into ``NN-value/``. Returns ``(report, ran)``."""
    return run_fold_stage(run_dir, cfg, STAGE, value, force=force)
