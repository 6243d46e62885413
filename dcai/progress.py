"""Progress lines for long stages: ``done / total`` with a rate and the time left, at most one line every
``DCAI_PROGRESS_EVERY`` seconds (10), and a summary line at the end when the work took that long.

    p = Progress("augment", total=5_000, what="images")
    p.add(256)   # as batches finish
    p.end()      # "   augment: 5,000 images in 71 s (70.4 images/s)"
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

EVERY = float(os.environ.get("DCAI_PROGRESS_EVERY", "10"))


class Progress:
    """Counts work as it completes and prints a line now and then (to stdout, where stage summaries go)."""

    def __init__(
        self,
        label: str,
        total: int,
        what: str = "images",
        *,
        every: float = EVERY,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.what, self.every = label, total, what, every
        self.out, self.clock = out, clock
        self.done = 0
        self.started = self.last = clock()
        self.lines = 0

    def _print(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)
        self.lines += 1

    def rate(self) -> float:
        return self.done / max(self.clock() - self.started, 1e-9)

    def line(self) -> str:
        rate = self.rate()
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        left = (self.total - self.done) / rate if rate > 0 and self.total > self.done else 0.0
        eta = f", ~{_duration(left)} left" if left else ""
        return f"   {self.label}: {self.done:,} / {self.total:,} {self.what}{pct}, {rate:,.1f} {self.what}/s{eta}"

    def add(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            self._print(self.line())

    def end(self) -> str | None:
        """The summary line, printed when the work took at least ``every`` seconds (quiet when quick)."""
        seconds = self.clock() - self.started
        if seconds < self.every and not self.lines:
            return None
        text = f"   {self.label}: {self.done:,} {self.what} in {_duration(seconds)} ({self.rate():,.1f} {self.what}/s)"
        self._print(text)
        return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
