"""One trial without Ray: augment the train images in memory with a policy, train the fixed model, report.

:func:`trial` is plain numpy / torch, so Ray Tune wraps it on a cluster and the ``local`` backend calls
it directly on a machine without Ray. New images come from augment's own planner and image ops
(:mod:`dcai.augment.plan`, :func:`dcai.augment.derive.make`), never written to disk; all arrays are
``(N, 32, 32, 3)`` float32 pixels in [0, 255] for the engine.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcai import imaging
from dcai.augment import derive, plan, validity
from dcai.augment.config import AugmentConfig
from dcai.models import inputs
from dcai.models.fixed import RECIPE, fixed_net
from dcai.tune.config import CHECKED_SOURCES, TUNABLE_SOURCES

Report = Callable[[dict], "bool | None"]


@dataclass
class TrialData:
    """What every trial shares: the parents at their own size, and the engine's arrays."""

    classes: list[str]
    parents: list[np.ndarray]  # (H, W[, 3]) uint8, one per train row: what new images derive from
    ids: list[str]  # the parents' manifest ids (plan's per-task seeds depend on them)
    labels: list[str]  # the parents' classes
    x_train: np.ndarray  # (N, 32, 32, 3) the parents resized
    y_train: np.ndarray  # (N,) class indices
    x_val: np.ndarray
    y_val: np.ndarray
    # the validity check of crops and compositions (augment's classifier), when the space searches them
    classify: validity.Classify | None = None
    isolated: np.ndarray | None = None  # (N,) bool: embed's edge cases among the parents, if embed ran

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        uris: Sequence[str],
        labels: Sequence[str],
        x_val: np.ndarray,
        val_labels: Sequence[str],
        *,
        classes: Sequence[str],
        workers: int = 4,
    ) -> TrialData:
        """Decode the train ``uris`` once at their own size (augment works there), then resize."""
        with ThreadPoolExecutor(workers) as pool:
            parents = list(pool.map(imaging.load, uris))
        index = {c: i for i, c in enumerate(classes)}
        return cls(
            list(classes),
            parents,
            list(ids),
            list(labels),
            resize_all(parents),
            np.array([index[c] for c in labels], dtype=np.int64),
            x_val,
            np.array([index[c] for c in val_labels], dtype=np.int64),
        )

    @classmethod
    def from_tables(cls, train, val, *, classes: Sequence[str], run_dir) -> TrialData:
        """:meth:`build` from manifest tables: the ``train`` rows' images and the ``val`` rows' model inputs
        (cached in the run, as evaluate loads them)."""
        from dcai import manifest, storage
        from dcai.train.data import load_images

        hashes = [h if isinstance(h, str) else None for h in manifest.column(val, "content_hash")]
        x_val = load_images(
            [str(u) for u in manifest.column(val, "uri")], hashes=hashes, cache_dir=storage.cache_dir(run_dir)
        )
        return cls.build(
            [str(i) for i in manifest.column(train, "id")],
            [str(u) for u in manifest.column(train, "uri")],
            [str(c) for c in manifest.column(train, "label")],
            x_val,
            [str(c) for c in manifest.column(val, "label")],
            classes=classes,
        )


def resize_all(images: Sequence[np.ndarray]) -> np.ndarray:
    """``[(H, W[, 3]) uint8]`` → ``(N, 32, 32, 3)`` float32, the fixed model's resize."""
    if not images:
        return np.zeros((0, inputs.SIZE, inputs.SIZE, 3), np.float32)
    return np.stack([inputs.resize(im) for im in images])


def augment_config(params: dict[str, Any], *, per_class: int, seed: int) -> AugmentConfig:
    """The :class:`AugmentConfig` a trial's params stand for (the same overrides the stage reports)."""
    from dcai.tune.search import overrides

    return AugmentConfig().replace(**overrides(params, per_class=per_class), seed=seed, aspect=False)


def make_images(
    params: dict[str, Any], data: TrialData, *, per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The images a policy adds: ``(x (M, 32, 32, 3), y (M,), {source: count})``."""
    cfg = augment_config(params, per_class=per_class, seed=seed)
    n = len(data.parents)
    parents = {
        "id": np.array(data.ids, dtype=object),
        "read_uri": np.array([str(i) for i in range(n)], dtype=object),
        "label": np.array(data.labels, dtype=object),
        "split": np.array(["train"] * n, dtype=object),
    }
    if data.isolated is not None:
        parents["isolated"] = data.isolated
    tasks, _ = plan.plan(parents, cfg, classes=data.classes)
    made, labels, sources, keep = _derive(tasks, data, cfg)
    # as the stage does with its per-class target: the unbounded sources make up what was not kept
    lost = Counter(c for c, k in zip(labels, keep) if not k)
    more = plan.refill(parents, cfg, classes=data.classes, lost=dict(lost))
    if more:
        extra = _derive(more, data, cfg)
        made, labels, sources = made + extra[0], labels + extra[1], sources + extra[2]
        keep = np.concatenate([keep, extra[3]])
    added = {s: 0 for s in TUNABLE_SOURCES}
    for s in np.asarray(sources, dtype=object)[keep]:
        added[s] += 1
    index = {c: i for i, c in enumerate(data.classes)}
    x = resize_all([im for im, k in zip(made, keep) if k and im is not None])
    return x, np.array([index[c] for c, k in zip(labels, keep) if k], dtype=np.int64), added


def _derive(
    tasks: list[dict], data: TrialData, cfg: AugmentConfig
) -> tuple[list[np.ndarray | None], list[str], list[str], np.ndarray]:
    """``(images, their classes, their sources, kept)`` of the tasks, one entry per image asked for (as
    augment's rows): one that could not be made (None), or a crop or composition the validity classifier
    reads as another class, is not kept."""
    policy = derive.autoaugment_policy(tasks, cfg)
    made: list[np.ndarray | None] = []
    labels: list[str] = []
    sources: list[str] = []
    for t in tasks:
        if t["source"] not in TUNABLE_SOURCES:
            raise ValueError(
                f"tune: source {t['source']!r} cannot be tuned; tune only {list(TUNABLE_SOURCES)}"
            )
        new = [im for im, _, _ in derive.make(t, data.parents[int(t["read_uri"])], cfg, policy)]
        made += new
        labels += [t["out_label"]] * len(new)
        sources += [t["source"]] * len(new)
    keep = np.array([im is not None for im in made], dtype=bool)
    checked = [j for j, s in enumerate(sources) if s in CHECKED_SOURCES and keep[j]]
    if checked:
        validity.require(data.classify, sorted({sources[j] for j in checked}))
        assert data.classify is not None
        ok, _ = validity.check(
            [im for j in checked if (im := made[j]) is not None],
            [labels[j] for j in checked],
            classify=data.classify,
            classes=data.classes,
        )
        keep[np.array(checked)[~ok]] = False
    return made, labels, sources, keep


def trial(
    params: dict[str, Any],
    data: TrialData,
    *,
    epochs: int,
    report: Report,
    per_class: int,
    seed: int = 0,
    seeds: int = 1,
    device: str = "auto",
) -> dict[str, Any]:
    """Train the fixed model on the train images plus a policy's new ones, scoring val accuracy per epoch.

    ``seeds`` models (initialisations and shuffles ``seed``, ``seed + 1``, ...) train at once on the same
    images; their mean validation accuracy is the trial's score, so a policy is ranked by what it does,
    not by one seed's luck. ``report({"epoch", "val_acc", "loss", "added"})`` follows every epoch; when it
    returns False the trial stops there (the local ASHA rule). Returns ``{"added": {source: n}, "val_acc": [...]}``.
    """
    import torch

    from dcai.train.engine import Trainer

    torch.manual_seed(seed)
    x_new, y_new, added = make_images(params, data, per_class=per_class, seed=seed)
    options = {k: v for k, v in RECIPE.fit_kwargs().items() if k != "epochs"}
    trainer = Trainer(
        functools.partial(fixed_net, len(data.classes)),
        np.concatenate([data.x_train, x_new]),
        np.concatenate([data.y_train, y_new]),
        data.x_val,
        data.y_val,
        seeds=[seed + k for k in range(seeds)],
        device=device,
        **options,
    )
    curve: list[float] = []
    for _ in range(epochs):
        m = trainer.train_epoch()
        curve.append(float(np.mean(m["val_acc"])))
        metrics = {
            "epoch": trainer.epoch,
            "val_acc": curve[-1],
            "loss": float(np.mean(m["loss"])),
            "added": int(len(y_new)),
        }
        if report(metrics) is False:
            break
    return {"added": added, "val_acc": curve}
