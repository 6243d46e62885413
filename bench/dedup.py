"""Dedup benchmarks: planted near duplicates (P/R over the threshold), the real competition data, speed.

    python -m bench.dedup --planted 6000 --held-out 1 --roman

Writes the ``dedup`` section of BENCHMARKS.md. Planted images come from ``dcai synth`` (truth.csv says
which file is a near copy of which, by which transform); imagededup's PHash runs on the same files
when /tmp/venv-imagededup exists. Speed (end to end, 1 M images, CPU scaling): ``bench/dedup_speed.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench._common import ROMAN, command, machine, table, write_section
from dcai.dedup import exact, groups, join, lsh, normalise, pixels, sketch, verify
from dcai.dedup.config import DedupConfig

IMAGEDEDUP = Path("/tmp/venv-imagededup/bin/python")


def synth_set(out: Path, n: int, seed: int) -> tuple[list[bytes], list[dict], np.ndarray]:
    """Images written by ``dcai synth`` (in process), its truth rows, and each image's truth group.

    The group of an image is its ``duplicate_of`` source (itself if none): the source, its exact and
    its near copies share one group.
    """
    import csv

    from dcai.synth.config import SynthConfig
    from dcai.synth.pipeline import run as synth

    synth(out, SynthConfig(n=n, seed=seed), use_ray=False)
    rows = list(csv.DictReader((out / "truth.csv").open()))
    pos = {r["path"]: i for i, r in enumerate(rows)}
    group = np.array([pos[r["duplicate_of"]] if r["duplicate_of"] else i for i, r in enumerate(rows)])
    return [(out / r["path"]).read_bytes() for r in rows], rows, group


def scored_candidates(images: list[bytes], cfg: DedupConfig):
    """The pipeline's near path in one process: candidate pairs, mask score, geometric gate, sketches."""
    sk = sketch.sketch(images, cfg)
    idx = np.arange(len(images))
    first = exact.representatives(exact.codes(pa.array(sk["pixel_hash"].tolist(), pa.string())))
    keep = (sk["ink"] >= cfg.min_ink) & first  # as the pipeline: pixel copies are grouped exactly
    geo = lsh.geo_keys(sk["canvas_w"][keep], sk["canvas_h"][keep], sk["sy"][keep])
    rows = [
        lsh.band_rows(idx[keep], sk["bands"][keep], sk["phash"][keep], source=0, geo=geo),
        lsh.band_rows(idx[keep], lsh.phash_keys(sk["phash"][keep]), sk["phash"][keep], source=1, geo=geo),
    ]
    rows = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    p = lsh.bucket_pairs(
        rows, max_bucket=cfg.max_bucket, hot_window=cfg.hot_window, phash_distance=cfg.phash_distance
    )
    m = normalise.unpack(sk["mask"], cfg.size)
    a, b = p["a"], p["b"]
    score = verify.similarity(m[a], m[b], radius=cfg.radius)
    feats = [k for k in join.FEATURES if k != "mask"]
    gate = verify.gate({k: sk[k][a] for k in feats}, {k: sk[k][b] for k in feats}, **cfg.gate_options())
    return a, b, score, gate, sk


def evaluate(a, b, accepted, group, near, pixel_hash) -> dict:
    """Near-copy recall by group (exact + accepted edges → components) and precision of accepted edges."""
    codes = exact.codes(pa.array(pixel_hash.tolist(), pa.string()))
    ea, eb = exact.edges(codes)
    comp = groups.components(len(group), np.r_[ea, a[accepted]], np.r_[eb, b[accepted]])
    found = comp[near] == comp[group[near]]
    ok = group[a[accepted]] == group[b[accepted]]
    linked = np.zeros(len(group), bool)
    linked[a[accepted]] = linked[b[accepted]] = True
    # a component is false when it joins images of two truth groups
    per_comp: dict[int, set] = {}
    for c, g in zip(comp[linked].tolist(), group[linked].tolist()):
        per_comp.setdefault(c, set()).add(g)
    return {
        "recall": float(found.mean()) if len(found) else 1.0,
        "precision": float(ok.mean()) if len(ok) else 1.0,
        "false_edges": int((~ok).sum()),
        "groups": len(per_comp),
        "false_groups": sum(len(v) > 1 for v in per_comp.values()),
        "found": found,
    }


def pixel_ratios(
    images: list[bytes], a, b, todo: np.ndarray, cfg: DedupConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``pixels.explain`` of the pairs ``todo`` (others: inf, ""); each image decoded once."""
    ratio, how = np.full(len(a), np.inf), np.full(len(a), "", object)
    grays: dict[int, np.ndarray] = {}

    def gray(i: int) -> np.ndarray:
        if i not in grays:
            grays[i] = pixels.decode_gray(images[i])
        return grays[i]

    for k in np.flatnonzero(todo):
        ratio[k], how[k] = pixels.explain(
            gray(int(a[k])), gray(int(b[k])), tol=cfg.pixel_tol, stroke_tol=cfg.stroke_tol
        )
    return ratio, how


THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)


def planted_figures(n: int, seed: int) -> dict:
    """Everything ``bench_planted`` reports for one ``dcai synth`` set (see there)."""
    cfg = DedupConfig()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        images, rows, group = synth_set(Path(d) / "synth", n, seed)
    near = np.array([r["problem"] == "near_duplicate" for r in rows])
    kind = np.array([r["transform"].split(":")[0] for r in rows], object)
    t = time.time()
    a, b, score, gate, sk = scored_candidates(images, cfg)
    secs = time.time() - t
    todo = gate & (score >= min(THRESHOLDS + (cfg.threshold,)))
    t = time.time()
    ratio, how = pixel_ratios(images, a, b, todo, cfg)
    pixel_secs = time.time() - t
    pix = ratio <= 1.0
    is_true = group[a] == group[b]
    nidx = np.flatnonzero(near)

    def direct(acc: np.ndarray) -> np.ndarray:
        """Near copies with an edge in ``acc`` straight to a member of their truth group."""
        hit = np.zeros(len(group), bool)
        hit[a[acc & is_true]] = hit[b[acc & is_true]] = True
        return hit[near]

    verifiers = {
        "mask only": lambda th: score >= th,
        "mask + geometry": lambda th: (score >= th) & gate,
        "mask + geometry + pixels": lambda th: (score >= th) & gate & pix,
    }
    curve = []
    for th in THRESHOLDS:
        for name, acc in verifiers.items():
            r = evaluate(a, b, acc(th), group, nidx, sk["pixel_hash"])
            curve.append((th, name, r))
    name = "mask + geometry + pixels" if cfg.pixel_check else "mask + geometry"
    accepted = verifiers[name](cfg.threshold)
    default = evaluate(a, b, accepted, group, nidx, sk["pixel_hash"])
    steps = [np.ones(len(a), bool), score >= cfg.threshold, (score >= cfg.threshold) & gate, accepted]
    reach = [direct(x) for x in steps]
    lost = {
        "candidates": int((~reach[0]).sum()),
        "mask threshold": int((reach[0] & ~reach[1]).sum()),
        "geometric gate": int((reach[1] & ~reach[2]).sum()),
        "pixel check": int((reach[2] & ~reach[3]).sum()),
    }
    kinds = sorted(set(kind[near]))
    per_kind = {
        k: (int(default["found"][kind[near] == k].sum()), int((kind[near] == k).sum())) for k in kinds
    }
    false_how: dict[str, int] = {}
    for h in how[accepted & ~is_true]:
        false_how[h] = false_how.get(h, 0) + 1
    return {
        "cfg": cfg,
        "name": name,
        "images": len(images),
        "near": int(near.sum()),
        "exact": sum(r["problem"] == "exact_duplicate" for r in rows),
        "kinds": kinds,
        "pairs": len(a),
        "true_pairs": int(is_true.sum()),
        "secs": secs,
        "pixel_pairs": int(todo.sum()),
        "pixel_secs": pixel_secs,
        "ceiling": float(reach[0].mean()),
        "curve": curve,
        "default": default,
        "lost": lost,
        "per_kind": per_kind,
        "false_how": false_how,
        "images_bytes": images,
        "pixel_hash": sk["pixel_hash"],
        "group": group,
        "nidx": nidx,
    }


def _default_line(f: dict) -> str:
    d, cfg = f["default"], f["cfg"]
    per_kind = ", ".join(f"{k} {x}/{n}" for k, (x, n) in f["per_kind"].items())
    lost = ", ".join(f"{k} {v}" for k, v in f["lost"].items())
    return (
        f"Default (threshold {cfg.threshold}, {f['name']}): recall {d['recall']:.3f}, precision "
        f"{d['precision']:.3f} ({d['false_edges']} false edges, explained as {f['false_how'] or 'nothing'}); "
        f"recall per transform: {per_kind}. Near copies lost at each step (no direct edge to their group "
        f"left): {lost}."
    )


def bench_planted(n: int, seed: int = 0) -> str:
    f = planted_figures(n, seed)
    table_rows = [
        [
            th,
            name,
            f"{r['recall']:.3f}",
            f"{r['precision']:.3f}",
            r["false_edges"],
            f"{r['false_groups']}/{r['groups']}",
        ]
        for th, name, r in f["curve"]
    ]
    out = [
        f"Planted (`dcai synth` n={n} seed={seed}, written in process by `dcai.synth.pipeline.run`): "
        f"{f['images']} images, {f['near']} near duplicates ({', '.join(f['kinds'])}), "
        f"{f['exact']} exact ones. {f['pairs']} candidate pairs ({f['true_pairs']} within a truth group), "
        f"sketched and scored in {f['secs']:.1f} s in one process; the pixel check of the "
        f"{f['pixel_pairs']} pairs that pass the geometric gate at overlap >= {min(THRESHOLDS)} took "
        f"{f['pixel_secs']:.1f} s in one process. "
        f"Near copies with a candidate edge to their group (recall ceiling): {f['ceiling']:.3f}.",
        "",
        "Recall: share of planted near duplicates that end in their source's group (exact + accepted "
        "edges, union-find). Precision: share of accepted near edges whose two images share a truth "
        "group. False groups: components that join two truth groups / components with a near edge.",
        "",
        table(["threshold", "verifier", "recall", "precision", "false edges", "false groups"], table_rows),
        "",
        _default_line(f),
    ]
    images = f["images_bytes"]
    group, nidx = f["group"], f["nidx"]
    sk = {"pixel_hash": f["pixel_hash"]}
    idd = imagededup_phash(images)
    if idd is None:
        out.append(
            "\nimagededup: no result (not installed in, or failed to import from, /tmp/venv-imagededup)."
        )
    else:
        pairs, ips = idd
        pa_, pb_ = (
            (np.array([p[i] for p in pairs], np.int64) for i in (0, 1))
            if pairs
            else (
                np.empty(0, np.int64),
                np.empty(0, np.int64),
            )
        )
        r = evaluate(pa_, pb_, np.ones(len(pa_), bool), group, nidx, sk["pixel_hash"])
        out.append(
            f"\nimagededup PHash (max distance 10) on the same files, same measure: recall {r['recall']:.3f}, "
            f"precision {r['precision']:.3f} ({r['false_edges']} false pairs), {ips:.0f} images/s"
        )
    return "\n".join(out)


def imagededup_phash(images: list[bytes], threshold: int = 10) -> tuple[set, float] | None:
    """imagededup PHash pairs (max_distance_threshold) and its images/s, run in its own venv."""
    if not IMAGEDEDUP.exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        for i, data in enumerate(images):
            Path(d, f"{i:07d}.png").write_bytes(data)
        code = (
            "import json,sys,time\nfrom imagededup.methods import PHash\nt=time.time()\n"
            f"r=PHash(verbose=False).find_duplicates(image_dir=sys.argv[1], max_distance_threshold={threshold})\n"
            "print(json.dumps({'t': time.time()-t, 'r': r}))"
        )
        out = subprocess.run([str(IMAGEDEDUP), "-c", code, d], capture_output=True, text=True)
    if out.returncode:
        print("imagededup failed:", out.stderr[-2000:])
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1])
    pairs = {tuple(sorted((int(k[:7]), int(v[:7])))) for k, vs in res["r"].items() for v in vs}
    return pairs, len(images) / res["t"]


def bench_roman() -> str:
    from dcai import manifest
    from dcai.dedup.pipeline import run
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run as ingest

    files = sorted(ROMAN.glob("*/*/*.png"))
    by_hash: dict[str, list[str]] = {}
    for f in files:
        by_hash.setdefault(hashlib.sha1(f.read_bytes()).hexdigest(), []).append(str(f))
    truth = {h for h, fs in by_hash.items() if len(fs) > 1}
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        ingest(d, IngestConfig(), source=str(ROMAN))
        t = time.time()
        report, _ = run(d, DedupConfig())
        secs = time.time() - t
        out = manifest.read(next(Path(d).glob("*-dedup")) / "manifest.parquet").to_pylist()
    groups: dict[str, list[dict]] = {}
    for r in out:
        if r["dup_group"]:
            groups.setdefault(r["dup_group"], []).append(r)
    exact_found = {r["content_hash"] for g in groups.values() for r in g}
    missed = [h for h in truth if h not in exact_found or groups_of(out, h) is None]
    mixed = [
        g
        for g in groups.values()
        if all(r["dup_kind"] != "near" for r in g) and len({r["content_hash"] for r in g}) > 1
    ]
    near = [g for g in groups.values() if any(r["dup_kind"] == "near" for r in g)]
    examples = ["; ".join(f"{Path(r['source_uri']).relative_to(ROMAN)}" for r in g) for g in near[:5]]
    return (
        f"Real data ({len(files)} images of dcai-roman, {secs:.0f} s): {len(truth)} byte-identical groups by sha1, "
        f"{len(truth) - len(missed)} found as one group each, missed {len(missed)}; exact groups mixing different "
        f"files (pixel-identical only): {len(mixed)}; groups by kind "
        f"{report['groups_by_kind']}; leakage {report['leakage']['by_splits']}; conflicts {report['conflict_groups']}. "
        f"Near pairs past the mask and geometry: {report['pixel_checked']}, of which the pixel check rejected "
        f"{report['pixel_rejected']} ({report['timings'].get('pixels', 0):.1f} s). "
        f"Near-duplicate groups added: {len(near)}."
        + ("".join(f"\n- {e}" for e in examples) if examples else "")
    )


def groups_of(rows: list[dict], content_hash: str) -> str | None:
    gs = {r["dup_group"] for r in rows if r["content_hash"] == content_hash}
    return gs.pop() if len(gs) == 1 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=0, help="dcai synth n (originals before planting)")
    ap.add_argument("--seed", type=int, default=0, help="dcai synth seed")
    ap.add_argument("--held-out", type=int, default=None, help="also this seed, summarised (default line)")
    ap.add_argument("--roman", action="store_true")
    args = ap.parse_args()
    parts = [f"Command: `{command()}` on {machine()}."]
    if args.planted:
        parts.append(bench_planted(args.planted, args.seed))
        if args.held_out is not None:
            f = planted_figures(args.planted, args.held_out)
            at = {name: r for th, name, r in f["curve"] if th == f["cfg"].threshold}
            others = "; ".join(f"{k}: {r['recall']:.3f} / {r['precision']:.3f}" for k, r in at.items())
            parts.append(
                f"Held-out seed {args.held_out} (same n, thresholds chosen on seed {args.seed}): "
                + _default_line(f)
                + f" At the same threshold, recall / precision per verifier: {others}."
            )
    if args.roman and ROMAN.exists():
        parts.append(bench_roman())
    parts.append("Scaling plan for 100 M images and where each step runs: `dcai/dedup/README.md`.")
    write_section("dedup", "\n\n".join(parts))


if __name__ == "__main__":
    main()
