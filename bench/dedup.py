"""Dedup benchmarks: planted near duplicates (P/R over the threshold), the real competition data, speed.

    python -m bench.dedup --planted 1500 --roman --speed 20000

Writes the ``dedup`` section of BENCHMARKS.md. Planted images come from ``dcai.dedup.planted`` (the
bundled generator); imagededup's PHash runs on the same images when /tmp/venv-imagededup exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench._common import ROMAN, command, machine, table, write_section
from dcai.dedup import lsh, normalise, planted, sketch, verify
from dcai.dedup.config import DedupConfig

IMAGEDEDUP = Path("/tmp/venv-imagededup/bin/python")


def planted_set(n: int, seed: int = 0):
    """``n`` distinct glyphs, then one transformed copy of every third: images, truth pairs, transform kinds."""
    rng = np.random.default_rng(seed)
    src = [planted.glyph(rng) for _ in range(n)]
    images = [planted.encode(g) for g in src]
    truth, kinds = set(), []
    for i in range(0, n, 3):
        kind = planted.TRANSFORMS[(i // 3) % len(planted.TRANSFORMS)]
        copy, _ = planted.transform(src[i], kind, rng)
        truth.add((i, len(images)))
        kinds.append(kind)
        images.append(planted.encode(copy, "JPEG" if kind == "jpeg" else "PNG"))
    return images, truth, kinds


def scored_candidates(images: list[bytes], cfg: DedupConfig):
    """The pipeline's near path in one process: every candidate pair with its score and gate."""
    sk = sketch.sketch(images, cfg)
    idx = np.arange(len(images))
    keep = sk["ink"] >= cfg.min_ink
    rows = [
        lsh.band_rows(idx[keep], sk["bands"][keep], sk["phash"][keep], source=0),
        lsh.band_rows(idx[keep], lsh.phash_keys(sk["phash"][keep]), sk["phash"][keep], source=1),
    ]
    rows = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    p = lsh.bucket_pairs(
        rows, max_bucket=cfg.max_bucket, hot_window=cfg.hot_window, phash_distance=cfg.phash_distance
    )
    m = normalise.unpack(sk["mask"], cfg.size)
    a, b = p["a"], p["b"]
    score = verify.similarity(m[a], m[b], radius=cfg.radius)
    gate = verify.gates(
        sk["extent"][a],
        sk["extent"][b],
        sk["stroke"][a],
        sk["stroke"][b],
        max_extent_ratio=cfg.max_extent_ratio,
        max_stroke_ratio=cfg.max_stroke_ratio,
    )
    return a, b, score, gate


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


def bench_planted(n: int) -> str:
    images, truth, kinds = planted_set(n)
    cfg = DedupConfig()
    t = time.time()
    a, b, score, gate = scored_candidates(images, cfg)
    secs = time.time() - t
    is_true = np.array([(x, y) in truth for x, y in zip(a.tolist(), b.tolist())])
    rows = []
    for th in (0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99):
        acc = (score >= th) & gate
        tp, fp = int((acc & is_true).sum()), int((acc & ~is_true).sum())
        rows.append([th, f"{tp / len(truth):.3f}", f"{tp / max(tp + fp, 1):.3f}", fp])
    acc = (score >= cfg.threshold) & gate
    found = {(x, y) for x, y, ok in zip(a.tolist(), b.tolist(), acc) if ok}
    per_kind = {k: 0 for k in planted.TRANSFORMS}
    for (i, j), k in zip(sorted(truth), kinds):
        per_kind[k] += (i, j) in found
    total = {k: kinds.count(k) for k in planted.TRANSFORMS}
    out = [
        f"Planted: {n} distinct glyphs + {len(truth)} transformed copies ({len(images)} images), "
        f"{len(a)} candidate pairs, scored in {secs:.1f} s in one process. "
        f"Candidates contain {int(is_true.sum())}/{len(truth)} planted pairs.",
        "",
        table(["threshold", "recall", "precision", "false pairs"], rows),
        "",
        "Recall per transform at the default threshold: "
        + ", ".join(f"{k} {per_kind[k]}/{total[k]}" for k in planted.TRANSFORMS),
    ]
    idd = imagededup_phash(images)
    if idd is None:
        out.append("\nimagededup: not installed in /tmp/venv-imagededup (see notes).")
    else:
        pairs, ips = idd
        tp = len(pairs & truth)
        out.append(
            f"\nimagededup PHash (max distance 10) on the same images: recall {tp / len(truth):.3f}, "
            f"precision {tp / max(len(pairs), 1):.3f}, {ips:.0f} images/s"
        )
    return "\n".join(out)


class PeakRSS:
    """Sample the RSS of this process and all its descendants (Ray workers included) from /proc."""

    def __init__(self, every: float = 0.5):
        self.peak, self.every, self._stop = 0, every, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> int:
        children: dict[int, list[int]] = {}
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(p.name))
                except OSError:
                    pass
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree())
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _manifest_run(folder: Path, images: list[bytes], run_dir: Path) -> None:
    """Write images as files and a ready ingest stage (skips ingest's decode: this times dedup alone)."""
    from dcai import manifest
    from dcai.runs import Run, StageOutput

    rows = []
    for i, data in enumerate(images):
        p = folder / f"{i // 1000:04d}" / f"{i:07d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        rows.append(
            {
                "id": f"{i:07d}",
                "uri": str(p),
                "label": "x",
                "split": "train",
                "origin": "original",
                "content_hash": hashlib.sha1(data).hexdigest(),
                "trusted": False,
                "width": 64,
                "height": 64,
            }
        )
    table = manifest.from_rows(rows)
    Run(run_dir).execute("ingest", lambda _t, _c: StageOutput(table, {}), needs_input=False, force=True)


def bench_speed(n: int) -> str:
    from dcai.dedup.pipeline import run

    rng = np.random.default_rng(1)
    base = [planted.encode(planted.glyph(rng)) for _ in range(min(n, 5000))]
    images = [base[i % len(base)] if i < len(base) else planted.encode(planted.glyph(rng)) for i in range(n)]
    cfg = DedupConfig()
    t = time.time()
    sketch.sketch(images[:2000], cfg)
    per_core = 2000 / (time.time() - t)
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        _manifest_run(Path(d) / "img", images, Path(d) / "run")
        with PeakRSS() as rss:
            t = time.time()
            report = run(Path(d) / "run", cfg, force=True)
            secs = time.time() - t
    return (
        f"Speed: sketch (decode → normalise → MinHash → bands) in one process: {per_core:.0f} images/s per core. "
        f"Ray pipeline end to end on {n} images (files on local disk, local Ray, shuffle={cfg.shuffle}): "
        f"{secs:.1f} s = {n / secs:.0f} images/s, phases {report['timings']}, "
        f"peak RSS of the process tree {rss.peak / 2**30:.2f} GiB."
    )


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
        ingest(str(ROMAN), d, IngestConfig())
        t = time.time()
        report = run(d, DedupConfig())
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
        f"Near-duplicate groups added: {len(near)}. Examples:\n" + "\n".join(f"- {e}" for e in examples)
    )


def groups_of(rows: list[dict], content_hash: str) -> str | None:
    gs = {r["dup_group"] for r in rows if r["content_hash"] == content_hash}
    return gs.pop() if len(gs) == 1 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=0)
    ap.add_argument("--roman", action="store_true")
    ap.add_argument("--speed", type=int, default=0)
    args = ap.parse_args()
    parts = [f"Command: `{command()}` on {machine()}."]
    if args.planted:
        parts.append(bench_planted(args.planted))
    if args.roman and ROMAN.exists():
        parts.append(bench_roman())
    if args.speed:
        parts.append(bench_speed(args.speed))
    parts.append("Scaling plan for 100 M images and where each step runs: `dcai/dedup/README.md`.")
    write_section("dedup", "\n\n".join(parts))


if __name__ == "__main__":
    main()
