"""Out-of-fold predictions with the one training engine: fit K fold models at once, predict every image.

Images ``x`` are ``(N, H, W, C)`` pixels in [0, 255] at the model's input size, labels ``y`` ``(N,)``
class indices; predictions are ``(K, N, C)`` probabilities, turned into ``(N, C)`` by
:func:`dcai.train.crossfit.out_of_fold`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from dcai.train.crossfit import CrossFit, out_of_fold


def make_model_fn(model: str, num_classes: int, *, width: float = 1.0) -> Callable:
    """The engine's zero-argument ``model_fn``: ``"fixed"`` (the competition network) or a vote member."""
    if model == "fixed":
        from dcai.models.fixed import fixed_net

        return partial(fixed_net, num_classes)
    from dcai.models.vote import model_fn

    return model_fn(model, num_classes, width=width)


def make_augment(name: str):
    """``"heavy"`` → the paper's on-device augmentation (:class:`dcai.train.augment.Heavy`); ``"light"`` → its
    geometry and contrast only (:class:`dcai.train.augment.Light`); ``"none"`` → None."""
    if name == "none":
        return None
    from dcai.train.augment import Heavy, Light

    return Light() if name == "light" else Heavy()


def fit_predict(
    model_fn: Callable,
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    lr: float,
    augment: str = "none",
    device: str = "auto",
    fit: Callable | None = None,
    predict: Callable | None = None,
) -> tuple[np.ndarray, dict]:
    """Train one model per row of ``masks`` ``(K, N)`` on its rows; return ``((K, N, C) probs, info)``.

    No early stopping on held-out rows: choosing the epoch by the scored fold would leak its labels
    into its own scores. ``fit`` / ``predict`` default to :mod:`dcai.train.engine`; the pipelines
    pass a ``fit`` that runs on Ray Train, tests pass spies.
    """
    if fit is None or predict is None:
        from dcai.train import engine

        fit, predict = fit or engine.fit, predict or engine.predict
    started = time.time()
    results = fit(
        model_fn,
        x,
        y,
        seeds=list(seeds),
        train_masks=masks,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        augment=make_augment(augment),
        keep_best=False,
        device=device,
    )
    fit_s = time.time() - started
    if [int(r.seed) for r in results] != [int(s) for s in seeds]:
        # e.g. a Ray run resumed from another fit's checkpoint: its models trained on other rows
        raise RuntimeError(
            f"fit returned models for seeds {[r.seed for r in results]}, asked for {list(seeds)}"
        )
    probs = predict(model_fn, [r.state_dict for r in results], x, device=device)
    return np.asarray(probs, dtype=np.float64), fit_info(results, fit_s, epochs)


def fit_info(results: Sequence, seconds: float, epochs: int) -> dict:
    """Timing and the last epoch's training accuracy / loss of each model, for the reports."""
    last = [r.history[-1] if r.history else {} for r in results]
    return {
        "fit_seconds": round(seconds, 3),
        "epoch_seconds": round(seconds / max(epochs, 1), 4),
        "train_acc": [float(h.get("acc", np.nan)) for h in last],
        "train_loss": [float(h.get("loss", np.nan)) for h in last],
    }


def cross_fit(
    model_fn: Callable, x: np.ndarray, y: np.ndarray, cf: CrossFit, *, seed: int = 0, **options
) -> tuple[np.ndarray, dict]:
    """``(N, C)`` out-of-fold probabilities for every row of ``cf`` (see :func:`fit_predict` for options)."""
    cf.check()
    probs, info = fit_predict(
        model_fn, x, y, cf.masks, seeds=[seed * 1000 + f for f in range(cf.k)], **options
    )
    return out_of_fold(probs, cf), info
