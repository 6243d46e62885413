"""The gan stage's body, without Ray: classifier, (search,) GAN training, sampling, rows appended.

Steps: the fixed model trained on the run's train rows and frozen (the paper's "pre-trained
classifier"); the validity classifier (augment's factory); with ``tuned`` the search of
:mod:`dcai.gan.search` picks γ, δ, the ramp and the images per class; the GAN trained for
``iterations`` (``train_gan``: Ray Train in the pipeline, :func:`local_gan` here; both checkpoint and
resume); the generator's checkpoint saved in the stage folder; ``per_class`` images per class drawn
and checked, appended as ``origin=gan`` rows that carry the checkpoint, γ, δ and the step.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dcai import imaging, manifest
from dcai import storage as storage_mod
from dcai.augment import validity
from dcai.gan import data as gan_data
from dcai.gan import sample as sampling
from dcai.gan import search, train
from dcai.gan.config import GanConfig
from dcai.runs import StageContext, StageOutput, fingerprint
from dcai.tune import search as tune_search

STAGE = "gan"
ORIGIN = "gan"
GENERATOR_FILE = "generator.pt"
TRIALS_FILE = "trials.parquet"
EXAMPLES_PER_CLASS = 8  # images per class and verdict the report's grid shows
# train_gan(data, settings, *, name, cfg) -> GanTrainer state dict (resumed from its checkpoint if any)
TrainGan = Callable[..., dict]
# run_trials(params_list, data, cfg) -> one search.trial result per configuration
RunTrials = Callable[[list[dict], gan_data.GanData, GanConfig], list[dict]]


def device_for(cfg: GanConfig) -> str:
    from dcai.train.engine import resolve_device

    return str(resolve_device(cfg.device))


def local_gan(
    data: gan_data.GanData, settings: train.Settings, *, name: str, cfg: GanConfig, root: Path
) -> dict:
    """Train in this process; checkpoints in ``root/<name>/gan.pt`` (a rerun resumes there)."""
    assert data.classifier_state is not None
    t = train.train_local(
        data.gray, data.trial.y_train, data.classifier_state, num_classes=len(data.classes), settings=settings,
        checkpoint_dir=root / name, every=cfg.checkpoint_every, device=device_for(cfg),
    )  # fmt: skip
    return t.state_dict()


def local_trials(params_list: list[dict], data: gan_data.GanData, cfg: GanConfig) -> list[dict]:
    return search.run_local(params_list, data, cfg, device=device_for(cfg))


def prepare(table: pa.Table, cfg: GanConfig, *, run_dir) -> gan_data.GanData:
    """Decode the data, train the frozen fixed model and the validity classifier."""
    data = gan_data.load(table, run_dir=run_dir)
    d = data.trial
    data.classifier_state, data.classifier_val_acc = train.train_classifier(
        d.x_train, d.y_train, d.x_val, d.y_val, num_classes=len(d.classes), epochs=cfg.classifier_epochs,
        seed=cfg.seed, device=device_for(cfg),
    )  # fmt: skip
    train_rows = manifest.active(table)
    data.classify = validity.load_factory(cfg.validity)(train_rows, classes=d.classes)
    return data


def _search(data: gan_data.GanData, cfg: GanConfig, run_trials: RunTrials, workdir: Path) -> dict[str, Any]:
    params_list = tune_search.sample(cfg.space, cfg.trials, seed=cfg.seed)
    results = run_trials(params_list, data, cfg)
    trials = search.summarize(params_list, results, epochs=cfg.epochs)
    rows = [
        {
            **{k: v for k, v in t.items() if k != "params"},
            **{f"param.{k}": float(v) for k, v in t["params"].items()},
        }
        for t in trials
    ]
    pq.write_table(pa.Table.from_pylist(rows), workdir / TRIALS_FILE)
    best = search.winner(trials)
    return {
        "trials": trials,
        "best_trial": best["trial"],
        "best_params": best["params"],
        "best_gain": best["best"],
    }


def _rows(drawn: sampling.Drawn, ctx: StageContext, *, classes: list[str], checkpoint: str, digest: str,
          settings: train.Settings, step: int) -> list[dict]:  # fmt: skip
    images_dir = ctx.images_dir
    final_dir = ctx.final_path(images_dir)
    rows = []
    for im, k, status, fixed, s in zip(
        drawn.images, drawn.labels, drawn.status, drawn.fixed_reads, drawn.seeds
    ):
        if status != sampling.KEPT:
            continue
        path, content = imaging.write_png(im, str(images_dir))
        cls = classes[k]
        rows.append(
            {
                "id": manifest.row_id(digest, cls, str(s)),  # the generator and the draw name the image
                "uri": f"{str(final_dir).rstrip('/')}/{Path(path).name}",
                "content_hash": content,
                "label": cls,
                "split": manifest.TRAIN,
                "origin": ORIGIN,
                "parent": None,  # no parent image: its lineage is the generator checkpoint below
                "reason": (
                    f"gan: generated as {cls} at step {step} (γ {settings.gamma_max:g}, δ {settings.delta:g}), "
                    f"validity classifier reads {cls}, fixed model reads {fixed}"
                ),
                "width": int(im.shape[1]),
                "height": int(im.shape[0]),
                "gan_checkpoint": checkpoint,
                "gan_checkpoint_sha1": digest,
                "gan_step": step,
                "gan_gamma": settings.gamma_max,
                "gan_delta": settings.delta,
                "gan_seed": int(s),
                "gan_fixed_read": fixed,
            }
        )
    return rows


def _examples(drawn: sampling.Drawn, ctx: StageContext, classes: list[str]) -> list[dict]:
    """A few images per class and verdict for the report's grid (rejected ones under ``examples/``)."""
    folder = ctx.workdir / "examples"
    seen: dict[tuple[int, str], int] = {}
    out = []
    for im, k, status, fixed, valid in zip(
        drawn.images, drawn.labels, drawn.status, drawn.fixed_reads, drawn.validity_reads
    ):
        verdict = status.split(":")[0]
        if seen.get((k, verdict), 0) >= EXAMPLES_PER_CLASS:
            continue
        seen[(k, verdict)] = seen.get((k, verdict), 0) + 1
        path, _ = imaging.write_png(im, folder)
        out.append({"class": classes[k], "status": status, "fixed_read": fixed, "validity_read": valid,
                    "file": f"examples/{Path(path).name}"})  # fmt: skip
    return out


def _tally(drawn: sampling.Drawn, classes: list[str]) -> dict[str, Any]:
    labels = np.asarray([classes[k] for k in drawn.labels], dtype=object)
    status = np.asarray([s.split(":")[0] for s in drawn.status], dtype=object)
    fixed = np.asarray(drawn.fixed_reads, dtype=object)
    per_class = {
        c: {
            v: int(((labels == c) & (status == v)).sum())
            for v in (sampling.KEPT, sampling.INVALID, sampling.DUPLICATE)
        }
        for c in classes
    }
    n = len(labels)
    kept = status == sampling.KEPT
    return {
        "drawn": n,
        "kept": int(kept.sum()),
        "per_class": per_class,
        "validity_rejection_rate": round(float((status == sampling.INVALID).mean()), 4) if n else None,
        "duplicate_rate": round(float((status == sampling.DUPLICATE).mean()), 4) if n else None,
        # the paper's aim: images the classifier gets wrong (low = hard)
        "fixed_acc_drawn": round(float((fixed == labels).mean()), 4) if n else None,
        "fixed_acc_kept": round(float((fixed[kept] == labels[kept]).mean()), 4) if kept.any() else None,
    }


def gan_table(
    table: pa.Table,
    cfg: GanConfig,
    ctx: StageContext,
    *,
    train_gan: TrainGan | None = None,
    run_trials: RunTrials = local_trials,
) -> StageOutput:
    """The stage body (see the module doc): returns the manifest with the kept images appended."""
    t0 = time.time()
    root = ctx.run.root
    data = prepare(table, cfg, run_dir=root)
    metrics: dict[str, Any] = {
        "classes": data.classes,
        "n_train": len(data.trial.y_train),
        "n_val": len(data.trial.y_val),
        "classifier_val_acc": round(float(data.classifier_val_acc), 4),
    }
    per_class, params = cfg.per_class, {}
    if cfg.tuned:
        found = _search(data, cfg, run_trials, ctx.workdir)
        metrics["search"] = found
        params = found["best_params"]
        # tune decides whether: a winner no better than as many ordinary augmented images adds none
        per_class = int(params.get("images", per_class)) if (found["best_gain"] or 0) > cfg.min_gain else 0
    settings = search.settings_for(cfg, params, iterations=cfg.iterations)
    metrics["settings"] = {**settings.__dict__, "gamma_max": settings.gamma_max, "per_class": per_class}
    if per_class == 0:
        metrics.update(
            added_total=0,
            skipped=f"the search's winner does not beat as many ordinary augmented images by more than {cfg.min_gain}"
            if cfg.tuned
            else "per_class is 0",
        )
        return StageOutput(table, metrics)
    # local checkpoints: RUN/checkpoints beside the stages (a killed stage's own folder is discarded)
    local_root = (
        root / "checkpoints" if isinstance(root, Path) else storage_mod.cache_dir(root) / "checkpoints"
    )
    # the checkpoint's name: same rows and settings resume it; more iterations train on from it
    resume = {k: v for k, v in settings.__dict__.items() if k != "iterations"}
    name = f"gan-{fingerprint({'input': manifest_key(table), 'settings': resume})}"
    train_gan = train_gan or (lambda d, s, *, name, cfg: local_gan(d, s, name=name, cfg=cfg, root=local_root))
    t1 = time.time()
    state = train_gan(data, settings, name=name, cfg=cfg)
    metrics["train_seconds"] = round(time.time() - t1, 1)
    metrics["iterations_per_second"] = round(settings.iterations / max(metrics["train_seconds"], 1e-9), 2)
    metrics["history"] = state["history"][-50:]
    ckpt = train.save(state, ctx.workdir / GENERATOR_FILE)
    digest = hashlib.sha1(ckpt.read_bytes()).hexdigest()
    device = device_for(cfg)
    drawn = sampling.sample(
        train.generator_from(state, device), classes=data.classes, per_class=per_class, classify=data.classify,  # type: ignore[arg-type]
        classifier=train.frozen_classifier(data.classifier_state, len(data.classes), train.resolve_device(device)),  # type: ignore[arg-type]
        index=data.index, dedup_threshold=cfg.dedup_threshold, oversample=cfg.oversample, seed=cfg.seed,
        device=device,
    )  # fmt: skip
    rows = _rows(drawn, ctx, classes=data.classes, checkpoint=ctx.final_path(ckpt), digest=digest,
                 settings=settings, step=int(state["step"]))  # fmt: skip
    existing = set(table.column("id").to_pylist())
    new = [r for r in rows if r["id"] not in existing]  # nothing written over: an id already there stays
    metrics["already_present"] = len(rows) - len(new)
    out = manifest.append(table, manifest.from_rows(new)) if new else table
    metrics.update(
        _tally(drawn, data.classes), added_total=len(new), examples=_examples(drawn, ctx, data.classes)
    )
    metrics["seconds_total"] = round(time.time() - t0, 1)
    return StageOutput(out, metrics)


def manifest_key(table: pa.Table) -> str:
    """A short key of the rows the GAN trains on (a changed run trains a new GAN, not a resumed one)."""
    return fingerprint(sorted(zip(table.column("id").to_pylist(), table.column("label").to_pylist(),
                                  table.column("split").to_pylist())))  # fmt: skip
