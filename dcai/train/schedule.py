"""Which rows each of K models sees in each step of an epoch, and how K schedules run in lockstep.

Each model has its own rows (a fold's train mask) and its own ``numpy`` generator, so its order
depends only on its seed, never on the other models trained beside it. Orders:

- ``"full"``: a fresh permutation every epoch;
- ``"keras"``: what ``tf.keras.preprocessing.image_dataset_from_directory(shuffle=True)`` does: the
  file list is shuffled once, then every epoch streams through ``Dataset.shuffle(8 * batch_size)``,
  a buffer that outputs a uniformly chosen element and refills from the list, so an image can only
  move about 64 places from where the first shuffle put it.

The last batch of an epoch keeps the remainder (Keras does not drop it), so steps differ in size;
:func:`lockstep` groups the steps of all models into :class:`Segment` s of one batch size each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHUFFLES = ("full", "keras")


def buffer_shuffle(order: np.ndarray, buffer: int, rng: np.random.Generator) -> np.ndarray:
    """``tf.data.Dataset.shuffle(buffer)`` over ``order``: ``(n,)`` → ``(n,)``, a permutation of it."""
    n = len(order)
    if n == 0:
        return order.copy()
    # While drawing output t the buffer holds min(buffer, n - t) elements: draw all choices at once.
    sizes = np.minimum(buffer, n - np.arange(n))
    picks = (rng.random(n) * sizes).astype(np.int64)
    buf = list(order[:buffer])
    rest = order[buffer:].tolist()
    out = np.empty(n, dtype=order.dtype)
    for t in range(n):
        i = int(picks[t])
        out[t] = buf[i]
        if t < len(rest):
            buf[i] = rest[t]  # refill the slot from the input
        else:
            buf[i] = buf[-1]  # input exhausted: the buffer shrinks
            buf.pop()
    return out


@dataclass
class Segment:
    """Consecutive steps that all have batch size ``size`` and the same ``active`` models."""

    size: int
    active: np.ndarray  # (K,) bool: models that take these steps; the others are left unchanged
    idx: np.ndarray  # (S, K, size) int64 row indices; rows of inactive models are 0 (ignored)


class Orders:
    """Per-model epoch orders over each model's rows ``rows[k]`` (``(n_k,)`` int64)."""

    def __init__(self, rows: list[np.ndarray], seeds: list[int], *, shuffle: str, batch_size: int):
        if shuffle not in SHUFFLES:
            raise ValueError(f"shuffle must be one of {list(SHUFFLES)}, got {shuffle!r}")
        self.shuffle, self.batch_size = shuffle, batch_size
        self.rngs = [np.random.default_rng(int(s)) for s in seeds]
        # "keras" shuffles the file list once, at load time, then only locally each epoch.
        self.base = [rng.permutation(r) if shuffle == "keras" else r for r, rng in zip(rows, self.rngs)]

    def epoch(self) -> list[list[np.ndarray]]:
        """Model k's batches for the next epoch: full batches, then the remainder if any."""
        out = []
        for base, rng in zip(self.base, self.rngs):
            order = (
                rng.permutation(base)
                if self.shuffle == "full"
                else buffer_shuffle(base, 8 * self.batch_size, rng)
            )
            out.append([order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)])
        return out

    def state(self) -> dict:
        return {"rngs": [r.bit_generator.state for r in self.rngs], "base": self.base}

    def load_state(self, state: dict) -> None:
        for rng, s in zip(self.rngs, state["rngs"]):
            rng.bit_generator.state = s
        self.base = [np.asarray(b) for b in state["base"]]


def lockstep(batches: list[list[np.ndarray]]) -> list[Segment]:
    """K models' batch lists → segments of equal-size steps, each model's own order kept.

    Models are independent, so only each model's sequence matters: a step in which models have
    batches of different sizes (one model's remainder beside another's full batch) becomes one
    sub-step per size, each with only the models of that size active.
    """
    k = len(batches)
    steps = max((len(b) for b in batches), default=0)
    segments: list[Segment] = []
    rows: list[np.ndarray] = []
    key = None
    for s in range(steps):
        sizes = np.array([len(b[s]) if s < len(b) else 0 for b in batches])
        for size in sorted(set(sizes[sizes > 0].tolist()), reverse=True):
            active = sizes == size
            step = np.zeros((k, size), dtype=np.int64)
            for m in np.flatnonzero(active):
                step[m] = batches[m][s]
            if key != (size, active.tobytes()):
                if rows:
                    segments[-1].idx = np.stack(rows)
                segments.append(Segment(size, active, np.empty(0)))
                rows, key = [], (size, active.tobytes())
            rows.append(step)
    if rows:
        segments[-1].idx = np.stack(rows)
    return segments
