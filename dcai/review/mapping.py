"""The embedding map: each image's pixels, downsampled to 16 x 16 grey ``(N, 256)``, reduced by PCA to
``(N, 32)`` and laid out in 2-D by UMAP; cached in the run as ``review-app/map.parquet`` (``id, x, y,
group, label, flagged``), which is all the map page and the report's picture read.

Why pixels and not the ensemble's penultimate features: ``vote`` keeps only out-of-fold probabilities,
not its fitted models, so there are no features to reuse; a pixel embedding also shows a style gap
between splits (the train-versus-val check), which is what the map is for.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from html import escape

import numpy as np
import pyarrow as pa

from dcai import manifest
from dcai.review import items as ix
from dcai.review.runfs import APP_DIR, RunFS

MAP = f"{APP_DIR}/map.parquet"
SIDE, PCA_DIMS = 16, 32
FEATURES = "pixels: 16x16 grey, PCA to 32 dimensions (the vote keeps no models to take features from)"
GROUPS = ("train", "val", "label_book", "added", "other")
COLOURS = {
    "train": "#1f77b4",
    "val": "#ff7f0e",
    "label_book": "#2ca02c",
    "added": "#9467bd",
    "other": "#7f7f7f",
}


def group_of(split: np.ndarray, origin: np.ndarray, trusted: np.ndarray) -> np.ndarray:
    """``(N,)`` map group: added (derived images) first, then label_book (trusted), train, val, other."""
    out = np.where(np.isin(split, GROUPS[:2]), split, "other").astype(object)
    out[trusted | (split == "label_book")] = "label_book"
    out[origin != manifest.ORIGINAL] = "added"
    return out


def pixel_features(uris: list[str]) -> np.ndarray:
    """``(N, SIDE * SIDE)`` float32 in [0, 1]: each image grey, resized to SIDE x SIDE."""
    from PIL import Image

    from dcai import imaging

    out = np.zeros((len(uris), SIDE * SIDE), np.float32)
    for start in range(0, len(uris), 256):
        chunk = uris[start : start + 256]
        for k, data in enumerate(imaging.read_many(chunk)):
            grey = imaging.to_gray(imaging.decode(data).pixels)
            small = Image.fromarray(grey).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
            out[start + k] = np.asarray(small, np.float32).ravel() / 255.0
    return out


def layout(features: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """``(N, F)`` -> ``(N, 2)``: PCA to :data:`PCA_DIMS` (numpy SVD), then UMAP."""
    import umap

    x = features - features.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    x = x @ vt[: min(PCA_DIMS, vt.shape[0])].T
    n_neighbors = max(2, min(n_neighbors, len(x) - 1))
    # a seed makes UMAP single-threaded (it says so in a warning): a map that moves on every run is worse
    reducer = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=0.1, random_state=seed, init="random" if len(x) < 50 else "spectral"
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return np.asarray(reducer.fit_transform(x), np.float32)


def build_map(run: RunFS, *, max_points: int = 20_000, seed: int = 0) -> dict:
    """Lay out the newest manifest's images (quarantined ones have none; above ``max_points`` a seeded
    sample, flagged images always in) and write ``map.parquet``; returns a summary."""
    started = time.time()
    meta = ix.build(run)
    table = run.read_table(meta["manifest"], columns=["id", "uri", "label", "split", "origin", "trusted"])
    table = table.filter(pa.array(manifest.column(table, "split") != manifest.QUARANTINE))
    flagged_ids = set(run.read_table(ix.ITEMS, columns=["id"]).column("id").to_pylist())
    ids = manifest.column(table, "id")
    flagged = np.isin(ids, list(flagged_ids))
    if table.num_rows > max_points:
        rng = np.random.default_rng(seed)
        rest = rng.permutation(np.flatnonzero(~flagged))[: max(0, max_points - int(flagged.sum()))]
        keep = np.sort(np.concatenate([np.flatnonzero(flagged)[:max_points], rest]))
        table, flagged, ids = table.take(pa.array(keep, pa.int64())), flagged[keep], ids[keep]
    if table.num_rows < 4:
        raise ValueError(f"{run.uri}: {table.num_rows} image(s) are too few for a map")
    xy = layout(pixel_features(manifest.column(table, "uri").tolist()), seed=seed)
    trusted = np.array([bool(v) for v in table.column("trusted").to_pylist()], bool)
    groups = group_of(manifest.column(table, "split"), manifest.column(table, "origin"), trusted)
    out = pa.table({
        "id": ids.tolist(), "x": xy[:, 0], "y": xy[:, 1], "group": groups.tolist(),
        "label": table.column("label"), "flagged": flagged,
    })  # fmt: skip
    run.write_table(MAP, out)
    run.write_text(MAP + ".json", json.dumps({"features": FEATURES, "points": out.num_rows, "seed": seed}))
    return {"map": run.path(MAP), "points": out.num_rows, "flagged": int(flagged.sum()),
            "features": FEATURES, "seconds": round(time.time() - started, 2)}  # fmt: skip


def points(run: RunFS) -> dict:
    """What the map page draws: the columns of ``map.parquet`` as lists, and what the features are."""
    t = run.read_table(MAP)
    return {
        **{c: t.column(c).to_pylist() for c in ("id", "group", "label", "flagged")},
        "x": np.round(t.column("x").to_numpy(), 4).tolist(),
        "y": np.round(t.column("y").to_numpy(), 4).tolist(),
        "features": FEATURES,
        "colours": COLOURS,
    }


def svg(run: RunFS, *, size: int = 480, limit: int = 4000) -> str:
    """The map as an inline SVG for the HTML report: coloured by group, flagged points ringed."""
    t = run.read_table(MAP)
    if t.num_rows > limit:
        t = t.take(pa.array(np.linspace(0, t.num_rows - 1, limit).astype(np.int64)))
    x, y = t.column("x").to_numpy(), t.column("y").to_numpy()
    pad = 10
    sx = (x - x.min()) / max(float(np.ptp(x)), 1e-9) * (size - 2 * pad) + pad
    sy = (y - y.min()) / max(float(np.ptp(y)), 1e-9) * (size - 2 * pad) + pad
    buf = io.StringIO()
    buf.write(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" style="border:1px solid #ddd">'
    )
    for px, py, g, f in zip(sx, sy, t.column("group").to_pylist(), t.column("flagged").to_pylist()):
        ring = ' stroke="#d62728" stroke-width="1.5"' if f else ""
        buf.write(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if f else 2.5}" fill="{COLOURS.get(g, "#777")}"{ring}/>'
        )
    buf.write("</svg>")
    present = sorted(set(t.column("group").to_pylist()), key=GROUPS.index)
    legend = " ".join(f'<span style="color:{COLOURS[g]}">●</span> {escape(g)}' for g in present)
    return f"{buf.getvalue()}<p>{legend} · <span style='color:#d62728'>○</span> flagged</p>"
