"""Every stage, once: the table the CLI, ``dcai pipeline``, the HTML report and ``ray_jobs/`` read.

Each stage declares its :class:`~dcai.stage.Stage` record in its own ``cli.py``; a new stage adds its
folder and one line here. The order is the order of ``dcai --help``.
"""

from __future__ import annotations

from dcai.augment.cli import STAGE as augment
from dcai.balance.cli import STAGE as balance
from dcai.clean.cli import STAGE as clean
from dcai.config import ConfigError
from dcai.dedup.cli import STAGE as dedup
from dcai.embed.cli import STAGE as embed
from dcai.evaluate.cli import RAW_STAGE as evaluate_raw
from dcai.evaluate.cli import STAGE as evaluate
from dcai.export.cli import STAGE as export
from dcai.gan.cli import STAGE as gan
from dcai.ingest.cli import STAGE as ingest
from dcai.investigate.cli import STAGE as investigate
from dcai.review.cli import STAGE as review
from dcai.split.cli import STAGE as split
from dcai.stage import Stage
from dcai.tune.cli import STAGE as tune
from dcai.value.cli import STAGE as value
from dcai.vote.cli import STAGE as vote

STAGES: tuple[Stage, ...] = (
    ingest,
    dedup,
    investigate,
    vote,
    embed,
    value,
    review,
    clean,
    tune,
    augment,
    gan,
    balance,
    split,
    export,
    evaluate,
    evaluate_raw,
)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}


def get(name: str) -> Stage:
    """The stage called ``name``; a ConfigError listing the known ones otherwise."""
    if name not in BY_NAME:
        raise ConfigError(f"unknown stage {name!r}; known stages: {sorted(BY_NAME)}")
    return BY_NAME[name]
