"""Make the planned images: a batch of tasks in, one row per new image (or per rejection) out.

The ``map_batches`` body of augment. Each parent is decoded once; crops and compositions are checked
by the classifier in one call per batch; accepted images are written as content-addressed PNGs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from dcai import imaging, manifest
from dcai.augment import geometry, glyphs, mirror, policies, validity
from dcai.augment.config import AugmentConfig

# origin written into the manifest per source ("heavy" is the paper's augmentation: origin "augment")
ORIGIN = {
    "affine": "affine",
    "elastic": "elastic",
    "heavy": "augment",
    "autoaugment": "autoaugment",
    "crop": "crop",
    "mirror": "mirror",
    "compose": "compose",
    "aspect": "aspect",
}
ACCEPTED, REJECTED, FAILED = "accepted", "rejected", "failed"
OUT_COLUMNS = (
    "id",
    "uri",
    "read_uri",
    "content_hash",
    "label",
    "split",
    "origin",
    "parent",
    "reason",
    "width",
    "height",
    "source",
    "status",
)


def autoaugment_policy(tasks: Sequence[dict], cfg: AugmentConfig):
    """The SVHN policy as ``cfg`` scales it, or None when no task asks for AutoAugment."""
    if not any(t["source"] == "autoaugment" for t in tasks):
        return None
    return policies.svhn_policy(
        drop=cfg.autoaugment_drop,
        prob_scale=cfg.autoaugment_prob_scale,
        magnitude_scale=cfg.autoaugment_magnitude_scale,
    )


def make(
    task: dict, image: np.ndarray, cfg: AugmentConfig, policy
) -> list[tuple[np.ndarray | None, str, str]]:
    """``[(image or None, description, failure)]`` for one task; ``copies`` entries for unbounded sources.

    ``policy`` is :func:`autoaugment_policy` of the tasks. The augment stage writes what this makes;
    the tune stage's trials train on it in memory.
    """
    s, op, label, seed = task["source"], task["op"], task["label"], int(task["seed"])
    if s == "aspect":
        sq, (top, left) = geometry.square_around_ink(image, delta=cfg.ink_delta)
        h, w = image.shape[:2]
        return [
            (sq, f"aspect {w}x{h} ratio {geometry.aspect_ratio(h, w):.2f} -> square at ({top},{left})", "")
        ]
    if s == "mirror":
        flipped, new = mirror.mirror(image, label, op, cfg.mirror_map)
        return [(flipped, f"mirror {op} {label}->{new}", "")]
    if s == "crop":
        (crop,) = geometry.five_crops(image, fraction=cfg.crop_fraction, positions=[op])
        return [(np.ascontiguousarray(crop), f"crop {op} {cfg.crop_fraction:g}", "")]
    if s == "compose":
        composed, desc = glyphs.compose(
            image, label, op, rng=np.random.default_rng(seed), delta=cfg.ink_delta
        )
        return [(composed, desc, "" if composed is not None else desc)]
    copies = int(task["copies"])
    tag = f"seed {cfg.seed}" + (f" {op}" if op else "")  # op: plan.REFILL, a second round's own ids
    if s == "autoaugment":
        return [
            (policies.autoaugment(image, policy=policy, seed=seed + k), f"autoaugment svhn #{k} {tag}", "")
            for k in range(copies)
        ]
    if s in ("affine", "elastic"):
        amount = cfg.elastic_amount if s == "elastic" else 0.0
        return [
            (
                policies.warp(image, seed=seed + k, elastic=amount, options=cfg.affine_options),
                f"{s} #{k} {tag}",
                "",
            )
            for k in range(copies)
        ]
    if s == "heavy":
        batch = policies.heavy(image, copies=copies, seed=seed, options=cfg.heavy_options)
        return [(batch[k], f"heavy #{k} {tag}", "") for k in range(copies)]
    raise ValueError(f"unknown source {s!r}")


def derive(
    tasks: Sequence[dict],
    cfg: AugmentConfig,
    *,
    images_dir: str,
    final_images_dir: str,
    classify: validity.Classify | None = None,
    classes: Sequence[str] = (),
) -> pa.Table:
    """Rows for every image the tasks make; ``status`` is accepted, rejected (validity check) or failed."""
    policy = autoaugment_policy(tasks, cfg)
    made: list[tuple[dict, np.ndarray | None, str, str]] = []
    cache: dict[str, np.ndarray] = {}
    for t in tasks:
        if t["read_uri"] not in cache:
            cache.clear()  # tasks arrive grouped by parent: keep only the current one in memory
            cache[t["read_uri"]] = imaging.load(t["read_uri"])
        made += [(t, im, desc, fail) for im, desc, fail in make(t, cache[t["read_uri"]], cfg, policy)]
    checked = {s for s, on in (("crop", cfg.validate_crops), ("compose", cfg.validate_compose)) if on}
    to_check = [j for j, (t, im, _, _) in enumerate(made) if im is not None and t["source"] in checked]
    verdict: dict[int, str] = {}
    if to_check:
        validity.require(classify, sorted({made[j][0]["source"] for j in to_check}))
        assert classify is not None
        ok, predicted = validity.check(
            [im for j in to_check if (im := made[j][1]) is not None],
            [made[j][0]["out_label"] for j in to_check],
            classify=classify,
            classes=classes,
            size=cfg.classify_size,
        )
        verdict = {j: f"reads as {p}" for j, good, p in zip(to_check, ok, predicted) if not good}
    rows = []
    for j, (t, im, desc, fail) in enumerate(made):
        row = {
            "id": manifest.row_id(t["parent"], desc),
            "label": t["out_label"],
            "split": t["split"],
            "origin": ORIGIN[t["source"]],
            "parent": t["parent"],
            "reason": f"augment: {desc}",
            "source": t["source"],
            "status": ACCEPTED,
            "uri": None,
            "read_uri": None,
            "content_hash": None,
            "width": None,
            "height": None,
        }
        if im is None or j in verdict:
            row["status"] = FAILED if im is None else REJECTED
            row["reason"] = f"augment: {desc}: {fail or verdict[j]}"
        else:
            path, digest = imaging.write_png(im, images_dir)
            row.update(
                uri=f"{final_images_dir.rstrip('/')}/{os.path.basename(path)}",
                read_uri=path,
                content_hash=digest,
                width=int(im.shape[1]),
                height=int(im.shape[0]),
            )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=OUT_SCHEMA)


OUT_SCHEMA = pa.schema([(c, pa.int32() if c in ("width", "height") else pa.string()) for c in OUT_COLUMNS])


def derive_batch(batch: pa.Table, **kwargs) -> pa.Table:
    """``map_batches`` adapter: an Arrow batch of tasks in, an Arrow batch of rows out."""
    return derive(batch.to_pylist(), **kwargs)
