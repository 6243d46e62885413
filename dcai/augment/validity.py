"""The validity check of crops and compositions: keep a new image only if a classifier reads its label.

Contract of ``classify``: ``(N, S, S)`` or ``(N, S, S, 3)`` uint8 → ``(N, K)`` float scores
(probabilities or logits; only the argmax is used), column ``k`` being ``classes[k]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import numpy as np

from dcai.augment.geometry import resize_batch
from dcai.config import ConfigError

Classify = Callable[[np.ndarray], np.ndarray]


def predicted_labels(
    images: Sequence[np.ndarray], *, classify: Classify, classes: Sequence[str], size: int = 32
) -> np.ndarray:
    """``(N,)`` object array: the class ``classify`` gives each image (resized to ``size`` × ``size``)."""
    if len(images) == 0:
        return np.zeros(0, dtype=object)
    scores = np.asarray(classify(resize_batch(images, size)))
    if scores.ndim != 2 or scores.shape != (len(images), len(classes)):
        raise ConfigError(
            f"classify returned shape {scores.shape} for {len(images)} images and {len(classes)} classes; "
            "it must return (N, K) scores with column k = classes[k]"
        )
    return np.asarray(classes, dtype=object)[scores.argmax(axis=1)]


def check(
    images: Sequence[np.ndarray],
    expected: Sequence[str],
    *,
    classify: Classify,
    classes: Sequence[str],
    size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """``(ok, predicted)``: ``ok[i]`` is True when the classifier reads ``expected[i]`` on ``images[i]``.

    A crop of III that reads as II, or a composed VI that reads as IV, fails and is discarded.
    """
    unknown = sorted(set(expected) - set(classes))
    if unknown:
        raise ConfigError(
            f"the classifier does not know class(es) {unknown}; its classes are {list(classes)}"
        )
    predicted = predicted_labels(images, classify=classify, classes=classes, size=size)
    return predicted == np.asarray(expected, dtype=object), predicted


def from_engine(model_fn: Callable, states: Sequence[dict], *, device: str = "auto") -> Classify:
    """A ``classify`` from K models trained with :mod:`dcai.train.engine`: their mean probabilities.

    Grayscale batches are repeated to three channels, as the fixed model reads its images.
    """

    def classify(batch: np.ndarray) -> np.ndarray:
        from dcai.train.engine import predict

        x = batch if batch.ndim == 4 else np.repeat(batch[..., None], 3, axis=-1)
        return predict(model_fn, states, x, device=device).mean(axis=0)

    return classify


def load_factory(spec: str) -> Callable[..., Classify]:
    """Import ``"module:factory"``; the factory is called as ``factory(table, classes=...)`` → classify."""
    module, _, name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"classifier {spec!r}: cannot import ({e}); expected 'module:factory'") from e
    if not callable(factory):
        raise ConfigError(f"classifier {spec!r} is not callable")
    return factory


def require(classify: Classify | None, sources: Sequence[str]) -> None:
    """Refuse checked sources without a classifier, naming the switches that turn the check off."""
    if classify is None and sources:
        flags = ", ".join(f"validate_{'crops' if s == 'crop' else s}=false" for s in sources)
        raise ConfigError(
            f"augment: {' and '.join(sources)} need{'s' if len(sources) == 1 else ''} a classifier for the validity check (a crop of III can read "
            f"as II). Pass classify=..., set classifier='module:factory', or turn the check off with {flags}"
        )
