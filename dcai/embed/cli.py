"""``dcai embed --run RUN``: a supervised-contrastive embedding out of fold; kNN label vote and isolation."""

from __future__ import annotations

from dcai.embed.config import EmbedConfig
from dcai.stage import Stage, lazy


def summary(report: dict) -> str:
    return (
        f"embed on {report['rows_embedded']} images: kNN agrees with the given label on "
        f"{report['knn_agreement']:.3f} (out of fold); neighbours disagree on {report['noisy']}, "
        f"{report['isolated']} isolated; {report['queued']} queued ({report['fit_seconds']:.0f} s fitting)"
    )


STAGE = Stage(
    name="embed",
    help="supervised-contrastive embedding out of fold: kNN label vote, isolation",
    config=EmbedConfig,
    run=lazy("dcai.embed.pipeline:run"),
    summary=summary,
    section=lazy("dcai.embed.report_section:render_section"),
)
