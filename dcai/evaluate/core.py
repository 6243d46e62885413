"""Evaluate without Ray: load and cap the data, train the fixed model over seeds, score, summarise."""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from dcai.evaluate.config import EvaluateConfig
from dcai.evaluate.sources import ImageList, classes, encode
from dcai.models.fixed import RECIPE, check_cap, fixed_net
from dcai.train.data import load_images
from dcai.train.engine import FitResult, fit, predict, resolve_device


@dataclass
class Prepared:
    """Arrays for the engine: ``x_*`` ``(N, 32, 32, 3)`` float32, ``y_*`` ``(N,)`` class indices."""

    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    tests: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    counted: int = 0  # train+val as the official script counts it (whole batches)

    def model_fn(self):
        """A picklable ``model_fn`` for the engine (Ray ships it to workers)."""
        return functools.partial(fixed_net, len(self.classes))


def prepare(
    train: ImageList, val: ImageList, tests: dict[str, ImageList], *, max_images: int, cache_dir=None
) -> Prepared:
    """Refuse an over-cap dataset before decoding anything, then decode and resize every image."""
    counted = check_cap(len(train), len(val), max_images=max_images)
    names = classes(train, val)

    def arrays(images: ImageList) -> tuple[np.ndarray, np.ndarray]:
        y = encode(images, names)
        return load_images(images.uris, hashes=images.hashes, cache_dir=cache_dir), y

    x_train, y_train = arrays(train)
    x_val, y_val = arrays(val)
    return Prepared(names, x_train, y_train, x_val, y_val, {k: arrays(v) for k, v in tests.items()}, counted)


def progress(start: float):
    """An ``on_epoch`` printing one line per epoch on stderr, so a long CPU run can be watched."""

    def report(trainer, metrics: dict) -> None:
        val = " ".join(f"{a:.3f}" for a in metrics.get("val_acc", []))
        print(
            f"  seeds {trainer.seeds} epoch {trainer.epoch}: loss {np.mean(metrics['loss']):.4f}  "
            f"val_acc {val}  ({time.time() - start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    return report


def fit_local(data: Prepared, cfg: EvaluateConfig, *, verbose: bool = True) -> list[FitResult]:
    """Train every seed in this process, ``models_at_once`` seeds at a time, with the official recipe."""
    results: list[FitResult] = []
    start = time.time()
    for group in cfg.groups():
        results += fit(
            data.model_fn(),
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            seeds=group,
            device=cfg.device,
            on_epoch=progress(start) if verbose else None,
            **cfg.fit_kwargs(),
        )
    return results


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    # sample standard deviation (ddof=1): the seeds are a sample of the training randomness
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4)}


def summarize(results: list[FitResult], data: Prepared, cfg: EvaluateConfig, *, seconds: float) -> dict:
    """The metrics written to ``report.json``: mean ± std over seeds, per seed, per-epoch curves."""
    device = resolve_device(cfg.device)
    states = [r.state_dict for r in results]
    tests: dict[str, dict] = {}
    per_test: dict[str, list[float]] = {}
    for name, (x, y) in data.tests.items():
        probs = predict(data.model_fn(), states, x, device=device)  # (K, N, classes)
        accs = [float((p.argmax(-1) == y).mean()) for p in probs]
        per_test[name] = accs
        tests[name] = {"n": len(y), **_stats(accs), "per_seed": [round(a, 4) for a in accs]}
    val = _stats([r.best_val_acc for r in results])
    steps = cfg.epochs * len(results) * len(data.y_train)
    out = {
        "model": "fixed: ResNet50 cut at conv2_block3_out + GAP + Dense (official Keras recipe)",
        "device": str(device),
        "backend": cfg.backend,
        "epochs": cfg.epochs,
        "seeds": [r.seed for r in results],
        "classes": data.classes,
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "counted_for_cap": data.counted,
        "val_acc_mean": val["mean"],
        "val_acc_std": val["std"],
        "test": tests,
        "per_seed": [
            {
                "seed": r.seed,
                "best_val_acc": round(r.best_val_acc, 4),
                "best_epoch": r.best_epoch,
                "test_acc": {n: round(v[i], 4) for n, v in per_test.items()},
            }
            for i, r in enumerate(results)
        ],
        "curves": {
            "val_acc": [[round(h["val_acc"], 4) for h in r.history] for r in results],
            "loss": [[round(h["loss"], 4) for h in r.history] for r in results],
        },
        "train_seconds": round(seconds, 1),
        "train_images_per_second": round(steps / seconds, 1) if seconds > 0 else None,
        "recipe": {**RECIPE.fit_kwargs(), **cfg.fit_kwargs()},
    }
    for name, t in tests.items():  # flat copies for tables that show scalars only
        out[f"test_{name}_acc_mean"], out[f"test_{name}_acc_std"] = t["mean"], t["std"]
    return out


def evaluate(
    train: ImageList, val: ImageList, tests: dict[str, ImageList], cfg: EvaluateConfig, *, cache_dir=None
) -> dict:
    """Everything in one call, in this process (the ``local`` backend)."""
    data = prepare(train, val, tests, max_images=cfg.max_images, cache_dir=cache_dir)
    t0 = time.time()
    results = fit_local(data, cfg)
    return summarize(results, data, cfg, seconds=time.time() - t0)


def before_after(before: dict, after: dict) -> list[tuple[str, dict, dict]]:
    """``[(test set, before's stats, after's stats)]`` for the test sets two evaluate reports share.

    Only test sets compare: a pipeline re-splits val, so two val accuracies measure different images.
    """
    old = before.get("test", {})
    return [(name, old[name], t) for name, t in after.get("test", {}).items() if name in old]


def format_summary(metrics: dict) -> str:
    """A few lines for the terminal: mean ± std and per seed."""
    lines = [
        f"fixed model, {len(metrics['seeds'])} seed(s) x {metrics['epochs']} epochs on {metrics['device']}: "
        f"{metrics['n_train']} train / {metrics['n_val']} val images, {metrics['train_seconds']} s",
        f"  best val accuracy  {metrics['val_acc_mean']:.4f} ± {metrics['val_acc_std']:.4f}",
    ]
    for name, t in metrics["test"].items():
        lines.append(f"  test {name:<12} {t['mean']:.4f} ± {t['std']:.4f}  (n={t['n']})")
    for s in metrics["per_seed"]:
        tests = "  ".join(f"{n} {a:.4f}" for n, a in s["test_acc"].items())
        lines.append(f"  seed {s['seed']}: val {s['best_val_acc']:.4f} (epoch {s['best_epoch']})  {tests}")
    return "\n".join(lines)
