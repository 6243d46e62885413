"""Progress lines: done / total with a rate and the time left, at most one per period, a summary at the end."""

from __future__ import annotations

import io

from dcai.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_line_per_period_with_rate_and_time_left_then_a_summary():
    clock, out = Clock(), io.StringIO()
    p = Progress("augment", 1000, "images", every=10, out=out, clock=clock)
    clock.t = 5
    p.add(100)  # within the first period: quiet
    assert out.getvalue() == ""
    clock.t = 10
    p.add(100)
    assert out.getvalue() == "   augment: 200 / 1,000 images (20%), 20.0 images/s, ~40 s left\n"
    clock.t = 12
    p.add(100)  # two seconds later: still one line
    assert out.getvalue().count("\n") == 1
    clock.t = 50
    p.add(700)
    assert p.end() == "   augment: 1,000 images in 50 s (20.0 images/s)"
    assert out.getvalue().count("\n") == 2  # reaching the total prints no progress line, the summary does


def test_quick_work_stays_quiet():
    clock, out = Clock(), io.StringIO()
    p = Progress("ingest", 10, every=10, out=out, clock=clock)
    clock.t = 1
    p.add(10)
    assert p.end() is None and out.getvalue() == ""
