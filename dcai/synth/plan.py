"""Decide, from the seed alone, what every synthetic image will be: class, writer, split, planted problem.

:func:`plan` returns columns of length ``N`` (one row per file to write), small integer codes into
:data:`PROBLEMS`, :data:`SPLITS`, ``CLASSES`` and ``NEAR_TRANSFORMS``; workers draw the pixels.
"""

from __future__ import annotations

import math

import numpy as np

from dcai.synth.config import NEAR_TRANSFORMS, SynthConfig
from dcai.synth.render import CLASSES

PROBLEMS = ("clean", "exact_duplicate", "near_duplicate", "mislabel", "blank", "scribble", "off_class")
CLEAN, EXACT, NEAR, MISLABEL, BLANK, SCRIBBLE, OFF_CLASS = range(len(PROBLEMS))
JUNK = (BLANK, SCRIBBLE, OFF_CLASS)
SPLITS = ("train", "val", "label_book", "test")
TRAIN, VAL, LABEL_BOOK, TEST = range(len(SPLITS))
# Look-alike classes a tired labeller swaps: ii/iii, iv/vi, vii/viii, ix/x. i and v have none.
CONFUSABLE = (("ii", "iii"), ("iv", "vi"), ("vii", "viii"), ("ix", "x"))
PARTNER = np.full(len(CLASSES), -1, np.int8)
for _a, _b in CONFUSABLE:
    PARTNER[CLASSES.index(_a)], PARTNER[CLASSES.index(_b)] = CLASSES.index(_b), CLASSES.index(_a)

COLUMNS = (
    "index",
    "source",
    "problem",
    "split",
    "given",
    "true",
    "writer",
    "transform",
    "source_split",
    "source_given",
)


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    share = total * np.asarray(weights, float) / np.sum(weights)
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[: total - counts.sum()]] += 1
    return counts


def n_writers(count: int, cfg: SynthConfig) -> int:
    return max(1, math.ceil(count / cfg.images_per_writer))


def _block(count: int, **columns) -> dict[str, np.ndarray]:
    """Columns of one kind of row; scalars are broadcast, missing columns default to -1."""
    out = {name: np.full(count, -1, np.int64) for name in COLUMNS}
    for name, value in columns.items():
        out[name] = np.broadcast_to(np.asarray(value, np.int64), (count,)).copy()
    return out


def plan(cfg: SynthConfig) -> dict[str, np.ndarray]:
    """Every file to write, in order: originals, exact and near duplicates, junk, label book, test.

    ``source`` is the row whose drawing a row reuses (itself, or the original it duplicates);
    ``true`` is -1 for junk; ``transform`` indexes ``NEAR_TRANSFORMS`` for near duplicates.
    """
    rng = np.random.default_rng((cfg.seed, 0x51A))
    k, n = len(CLASSES), cfg.n
    class_weights = rng.permutation(cfg.imbalance ** np.linspace(0.0, 1.0, k))
    per_class = 1 + apportion(n - k, class_weights)  # every class at least once
    true = rng.permutation(np.repeat(np.arange(k), per_class))
    split = np.full(n, TRAIN)
    split[rng.choice(n, round(cfg.val_fraction * n), replace=False)] = VAL
    writers = n_writers(n, cfg)
    writer = rng.integers(writers, size=n)

    given, problem = true.copy(), np.full(n, CLEAN)
    m = round(cfg.mislabel_rate * n)
    # A share of the mislabels swap look-alikes (drawn among classes that have one); the rest go to
    # any other class, as a slip of the hand would.
    has_partner = np.flatnonzero(PARTNER[true] >= 0)
    swapped = rng.choice(
        has_partner, min(round(cfg.confusable_fraction * m), len(has_partner)), replace=False
    )
    given[swapped] = PARTNER[true[swapped]]
    rest = rng.choice(np.setdiff1d(np.arange(n), swapped), m - len(swapped), replace=False)
    given[rest] = (true[rest] + rng.integers(1, k, len(rest))) % k
    problem[swapped], problem[rest] = MISLABEL, MISLABEL
    blocks = [_block(n, problem=problem, split=split, given=given, true=true, writer=writer)]

    # Duplicates copy clean originals only, with replacement: some images get two or more copies.
    clean = np.flatnonzero(problem == CLEAN)
    near_codes = np.array([NEAR_TRANSFORMS.index(t) for t in cfg.near_transforms], np.int64)
    for code, rate in ((EXACT, cfg.exact_dup_rate), (NEAR, cfg.near_dup_rate)):
        count = round(rate * n)
        src = rng.choice(clean, count)
        cross = rng.random(count) < (cfg.cross_split_fraction if cfg.val_fraction > 0 else 0.0)
        blocks.append(
            _block(
                count,
                source=src,
                problem=code,
                split=np.where(cross, TRAIN + VAL - split[src], split[src]),
                given=true[src],
                true=true[src],
                writer=writer[src],
                source_split=split[src],
                source_given=true[src],
                transform=near_codes[rng.integers(len(near_codes), size=count)] if code == NEAR else -1,
            )
        )

    # Junk lands in a class folder drawn like the originals, so it does not change the imbalance.
    share = np.bincount(true, minlength=k) / n
    for code, rate in (
        (BLANK, cfg.blank_rate),
        (SCRIBBLE, cfg.scribble_rate),
        (OFF_CLASS, cfg.off_class_rate),
    ):
        count = round(rate * n)
        blocks.append(
            _block(
                count,
                problem=code,
                split=np.where(rng.random(count) < cfg.val_fraction, VAL, TRAIN),
                given=rng.choice(k, count, p=share),
                writer=rng.integers(writers, size=count),
            )
        )

    book = np.repeat(np.arange(k), cfg.label_book_per_class)
    blocks.append(
        _block(
            len(book),
            problem=CLEAN,
            split=LABEL_BOOK,
            given=book,
            true=book,
            writer=rng.integers(writers, size=len(book)),
        )
    )
    # The test set is balanced and written by people who wrote nothing else: a fair held-out score.
    test = rng.permutation(np.arange(cfg.test_n) % k)
    blocks.append(
        _block(
            cfg.test_n,
            problem=CLEAN,
            split=TEST,
            given=test,
            true=test,
            writer=writers + rng.integers(n_writers(cfg.test_n, cfg), size=cfg.test_n),
        )
    )

    out = {name: np.concatenate([b[name] for b in blocks]) for name in COLUMNS}
    out["index"] = np.arange(len(out["index"]), dtype=np.int64)
    out["source"] = np.where(out["source"] < 0, out["index"], out["source"])
    return out


def summary(rows: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Row counts ``{"problems": {problem: n}, "splits": {split: n}}`` of a plan (or a slice of one)."""
    problems = np.bincount(rows["problem"], minlength=len(PROBLEMS))
    splits = np.bincount(rows["split"], minlength=len(SPLITS))
    return {
        "problems": {name: int(c) for name, c in zip(PROBLEMS, problems)},
        "splits": {name: int(c) for name, c in zip(SPLITS, splits)},
    }
