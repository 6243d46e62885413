"""Ray wiring of embed: the K fold encoders on one elastic Ray ``TorchTrainer`` (``fit_many``, as the vote
fits) when Ray is up, else the local engine (``embed.engine``); around the body in :mod:`dcai.embed.embed`.

Writes ``NN-embed/``: ``embed_*`` columns, ``vectors.npz`` and the queue of images whose neighbours disagree.
"""

from __future__ import annotations

from dcai.embed.config import EmbedConfig
from dcai.embed.embed import STAGE, embed
from dcai.train.pipeline import run_fold_stage


def run(run_dir: str, cfg: EmbedConfig, *, force: bool = False) -> tuple[dict, bool]:
    """Embed the latest manifest of ``run_dir`` into ``NN-embed/``. Returns ``(report, ran)``."""
    return run_fold_stage(run_dir, cfg, STAGE, embed, force=force)
