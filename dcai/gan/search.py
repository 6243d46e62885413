"""The search of γ, δ, the γ ramp and the number of images, without Ray: one trial, and trials in turn.

A trial trains the GAN for ``trial_iterations`` with its (γ, δ, ramp), keeps ``images`` per class that
pass the validity and dedup checks, then trains the fixed model twice at once on the same seeds: on
the train images plus the trial's images, and on the train images plus as many ordinary augmented
images (augment's AutoAugment source, the default of the augment stage, one per kept GAN image of the
same class). Its score after each epoch is the difference of the two arms' mean val accuracies
(``gain``): ASHA (Ray Tune's, or :class:`dcai.tune.search.Rungs` here) stops trials on it, and a
winner whose gain is not above 0 means the GAN adds nothing the ordinary images do not.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from dcai.gan import sample as sampling
from dcai.gan.config import GanConfig
from dcai.gan.data import GanData
from dcai.gan.train import GanTrainer, Settings, generator_from
from dcai.tune import search as tune_search
from dcai.tune.trial import make_images, resize_all

Report = Callable[[dict], "bool | None"]
ORDINARY = {"sources.autoaugment": 1.0}  # the augment stage's unbounded default source


def settings_for(cfg: GanConfig, params: dict[str, Any], *, iterations: int) -> Settings:
    return Settings.of(
        cfg,
        iterations=iterations,
        gamma=float(params.get("gamma", cfg.gamma)),
        delta=float(params.get("delta", cfg.delta)),
        ramp=float(params.get("ramp", cfg.ramp)),
    )


def trial(
    params: dict[str, Any], data: GanData, *, cfg: GanConfig, report: Report, device: str = "cpu"
) -> dict:
    """One configuration (see the module doc); ``report`` after every fixed-model epoch, False stops it."""
    import torch

    from dcai.models.fixed import RECIPE, fixed_net
    from dcai.train.engine import Trainer

    assert data.classifier_state is not None and data.classify is not None
    d = data.trial
    per_class = int(params.get("images", cfg.per_class))
    settings = settings_for(cfg, params, iterations=cfg.trial_iterations)
    kept_x = np.zeros((0, *d.x_train.shape[1:]), np.float32)
    kept_y = np.zeros(0, np.int64)
    drawn = invalid = 0
    if per_class > 0:
        gan = GanTrainer(
            data.gray,
            d.y_train,
            data.classifier_state,
            num_classes=len(d.classes),
            settings=settings,
            device=device,
        )
        gan.train(settings.iterations)
        out = sampling.sample(
            generator_from(gan.state_dict(), device), classes=d.classes, per_class=per_class,
            classify=data.classify, classifier=None, index=copy.deepcopy(data.index),
            dedup_threshold=cfg.dedup_threshold, oversample=cfg.oversample, seed=cfg.seed, device=device,
        )  # fmt: skip
        keep = [j for j, s in enumerate(out.status) if s == sampling.KEPT]
        drawn, invalid = len(out.status), sum(s.startswith(sampling.INVALID) for s in out.status)
        if keep:
            kept_x = resize_all([out.images[j] for j in keep])
            kept_y = np.array([out.labels[j] for j in keep], dtype=np.int64)
    # as many ordinary augmented images per class as the GAN kept
    aug_x, aug_y, _ = make_images(ORDINARY, d, per_class=per_class, seed=cfg.seed)
    pick = np.concatenate(
        [np.flatnonzero(aug_y == k)[: int((kept_y == k).sum())] for k in range(len(d.classes))]
    ).astype(int)
    aug_x, aug_y = aug_x[pick] if len(pick) else kept_x[:0], aug_y[pick] if len(pick) else kept_y[:0]
    n, g, a = len(d.y_train), len(kept_y), len(aug_y)
    masks = np.zeros((2 * cfg.seeds_per_trial, n + g + a), dtype=bool)
    masks[:, :n] = True
    masks[: cfg.seeds_per_trial, n : n + g] = True
    masks[cfg.seeds_per_trial :, n + g :] = True
    seeds = [cfg.seed + k for k in range(cfg.seeds_per_trial)]
    torch.manual_seed(cfg.seed)
    trainer = Trainer(
        functools.partial(fixed_net, len(d.classes)),
        np.concatenate([d.x_train, kept_x, aug_x]),
        np.concatenate([d.y_train, kept_y, aug_y]),
        d.x_val,
        d.y_val,
        seeds=seeds * 2,
        train_masks=masks,
        device=device,
        **{k: v for k, v in RECIPE.fit_kwargs().items() if k != "epochs"},
    )
    curve: list[dict] = []
    s = cfg.seeds_per_trial
    for _ in range(cfg.epochs):
        m = trainer.train_epoch()
        gan_acc, aug_acc = float(np.mean(m["val_acc"][:s])), float(np.mean(m["val_acc"][s:]))
        curve.append(
            {"epoch": trainer.epoch, "gain": gan_acc - aug_acc, "val_acc": gan_acc, "aug_val_acc": aug_acc}
        )
        if report({**curve[-1], "kept": g, "drawn": drawn, "invalid": invalid}) is False:
            break
    return {"curve": curve, "kept": g, "drawn": drawn, "invalid": invalid}


def run_local(params_list: list[dict], data: GanData, cfg: GanConfig, *, device: str = "cpu") -> list[dict]:
    """Every configuration in turn, ASHA's rule (:class:`dcai.tune.search.Rungs`) on ``gain``."""
    rungs = tune_search.Rungs(cfg.epochs, cfg.grace_period, cfg.reduction_factor)
    out = []
    for i, params in enumerate(params_list):

        def report(metrics: dict, i: int = i) -> bool:
            return rungs.on_result(i, int(metrics["epoch"]), float(metrics["gain"]))

        out.append(trial(params, data, cfg=cfg, report=report, device=device))
    return out


def summarize(params_list: list[dict], results: list[dict], *, epochs: int) -> list[dict]:
    """One record per trial: params, per-epoch gain and both arms' val accuracy, best gain, status."""
    records = []
    for i, (p, r) in enumerate(zip(params_list, results)):
        curve = r["curve"]
        gains = [round(c["gain"], 4) for c in curve]
        records.append(
            {
                "trial": i,
                "params": dict(p),
                "gain": gains,
                "val_acc": [round(c["val_acc"], 4) for c in curve],
                "aug_val_acc": [round(c["aug_val_acc"], 4) for c in curve],
                "best": round(gains[-1], 4) if gains else None,  # the last epoch: both arms trained as long
                "epochs_run": len(curve),
                "stopped_early": len(curve) < epochs,
                "kept": r["kept"],
                "drawn": r["drawn"],
                "invalid": r["invalid"],
            }
        )
    return records


def winner(trials: list[dict]) -> dict:
    """The trial with the best final gain among those that ran longest (:func:`dcai.tune.search.winner`)."""
    return tune_search.winner(trials)
