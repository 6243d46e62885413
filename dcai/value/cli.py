"""``dcai value --run RUN``: each training image's TracIn influence on held-out validation loss."""

from __future__ import annotations

from dcai.stage import Stage, lazy
from dcai.value.config import ValueConfig


def summary(report: dict) -> str:
    return (
        f"value on {report['rows_valued']} images against {report['validation_rows']} validation images: "
        f"{report['negative']} with negative influence, {report['harmful']} flagged harmful and queued "
        f"({report['fit_and_trace_seconds']:.0f} s fitting and tracing)"
    )


STAGE = Stage(
    name="value",
    help="TracIn influence of each training image on validation loss: harmful images queued",
    config=ValueConfig,
    run=lazy("dcai.value.pipeline:run"),
    summary=summary,
    section=lazy("dcai.value.report_section:render_section"),
)
