"""The search without Ray: draw configurations from the space, ASHA's stopping rule, trials one after another.

:class:`Rungs` is the rule of Ray Tune's ``ASHAScheduler`` (one bracket): at each rung
``grace_period * reduction_factor**k`` epochs a trial stops when its score is below the
``1 - 1/reduction_factor`` quantile of the scores recorded there by earlier trials. :func:`run_local`
applies it to trials run in turn, so the ``local`` backend stops the same kind of trials Tune would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dcai.augment import plan
from dcai.tune.config import PLAIN_SOURCES, TUNABLE_SOURCES, is_range

Report = Callable[[dict], "bool | None"]  # a trial's per-epoch report; False = stop now
TrialFn = Callable[[dict, Report], dict]  # (params, report) -> the trial's own summary


def sample(space: Mapping[str, Any], n: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations ``{param: value}`` drawn uniformly from ``space`` (see :mod:`dcai.tune.config`)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for _ in range(n):
        params: dict[str, Any] = {}
        for name in sorted(space):
            spec = space[name]
            if is_range(spec):
                lo, hi = spec
                if isinstance(lo, int) and isinstance(hi, int):
                    params[name] = int(rng.integers(lo, hi + 1))
                else:
                    params[name] = round(float(rng.uniform(lo, hi)), 4)
            elif isinstance(spec, (list, tuple)):
                params[name] = spec[int(rng.integers(len(spec)))]
            else:
                params[name] = spec
        out.append(params)
    return out


def overrides(params: Mapping[str, Any], *, per_class: int) -> dict[str, Any]:
    """A trial's params as :class:`dcai.augment.config.AugmentConfig` overrides.

    The ``sources.*`` shares split ``per_class`` into whole counts (largest remainder); a source not in
    the params gets none (crop and compose: left out, so the augment config keeps its own counts). Other
    params become fields, ``heavy_options.*`` one dict.
    """
    # crops / compositions not searched keep the augment config's own counts (they need its classifier)
    searched = [s for s in TUNABLE_SOURCES if s in PLAIN_SOURCES or f"sources.{s}" in params]
    shares = {s: float(params.get(f"sources.{s}", 0.0)) for s in searched}
    weights = {s: int(round(w * 1000)) for s, w in shares.items()}
    out: dict[str, Any] = {"sources": plan.allocate(per_class, weights)}
    heavy: dict[str, float] = {}
    for name, value in params.items():
        head, _, tail = name.partition(".")
        if head == "heavy_options":
            heavy[tail] = float(value)
        elif head != "sources":
            out[name] = float(value)
    if heavy:
        out["heavy_options"] = heavy
    return out


@dataclass
class Rungs:
    """ASHA's stopping rule for a maximising metric; ``on_result`` says whether a trial goes on."""

    max_t: int
    grace_period: int = 1
    reduction_factor: int = 3
    recorded: dict[int, dict[Any, float]] = field(default_factory=dict)  # milestone -> {trial: score}

    def __post_init__(self) -> None:
        count = int(np.log(self.max_t / self.grace_period) / np.log(self.reduction_factor) + 1)  # as Ray does
        for k in range(max(count, 0)):
            self.recorded.setdefault(self.grace_period * self.reduction_factor**k, {})

    @property
    def milestones(self) -> list[int]:
        return sorted(self.recorded)

    def on_result(self, trial: Any, epoch: int, score: float) -> bool:
        """Record ``score`` at the highest rung ``epoch`` reached first; False when the trial must stop
        (below the rung's cutoff, or at ``max_t``)."""
        for milestone in sorted(self.recorded, reverse=True):
            seen = self.recorded[milestone]
            if epoch < milestone or trial in seen:
                continue
            stop = bool(seen) and score < float(
                np.nanpercentile(list(seen.values()), (1 - 1 / self.reduction_factor) * 100)
            )
            seen[trial] = score
            return not stop and epoch < self.max_t
        return epoch < self.max_t


def run_local(
    params_list: Sequence[dict], fn: TrialFn, *, max_t: int, grace_period: int, reduction_factor: int
) -> list[dict]:
    """Every configuration in turn under :class:`Rungs`; ``[{"val_acc": [...], **fn's summary}]``."""
    rungs = Rungs(max_t, grace_period, reduction_factor)
    out = []
    for i, params in enumerate(params_list):
        scores: list[float] = []

        def report(metrics: dict, i: int = i, scores: list[float] = scores) -> bool:
            scores.append(float(metrics["val_acc"]))
            return rungs.on_result(i, int(metrics["epoch"]), scores[-1])

        summary = fn(params, report)
        out.append({**summary, "val_acc": scores})
    return out


def summarize(params_list: Sequence[dict], curves: Sequence[Sequence[float]], *, epochs: int) -> list[dict]:
    """One record per trial: params, val accuracy by epoch, best, whether it was stopped early."""
    return [
        {
            "trial": i,
            "params": dict(p),
            "val_acc": [round(float(a), 4) for a in c],
            "best": round(max(c), 4) if c else None,
            "epochs_run": len(c),
            "stopped_early": len(c) < epochs,
        }
        for i, (p, c) in enumerate(zip(params_list, curves))
    ]


def winner(trials: Sequence[dict]) -> dict:
    """The best of the trials that ran longest (a stopped trial's score is over fewer epochs)."""
    ran = [t for t in trials if t["best"] is not None]
    if not ran:
        raise ValueError("no trial reported a score")
    longest = max(t["epochs_run"] for t in ran)
    return max((t for t in ran if t["epochs_run"] == longest), key=lambda t: (t["best"], -t["trial"]))
