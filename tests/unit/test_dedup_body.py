"""The dedup body without Ray: every step in one process (an Engine of plain calls), exact and near
copies grouped, a different glyph left alone, the join path giving what the in-reducer verify gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import planted
from dcai import manifest
from dcai.dedup import dedup, pixels, sketch, stored, verify
from dcai.dedup.config import DedupConfig


class LocalEngine:
    """:class:`dcai.dedup.dedup.Engine` in this process: one partition, no shuffle, no Ray."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg

    def sketch(self, items: pa.Table, out_dir: Path) -> None:
        out_dir.mkdir(parents=True)
        pq.write_table(sketch.sketch_table(items, cfg=self.cfg), out_dir / "0.parquet")

    def candidates(self, sources, skip, *, n_rows, scratch, new_below, verify):
        cfg = self.cfg
        parts = [
            sketch.explode_table(
                pq.read_table(folder),
                use_phash=cfg.phash_candidates,
                min_ink=cfg.min_ink,
                skip=skip,
                offset=offset,
            )
            for folder, offset in sources
        ]
        rows = pa.table({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        feats = stored.read_features(sources, n_rows) if verify else None
        out = dedup.pairs_of_partition(rows, cfg=cfg, new_below=new_below, feats=feats)
        return (*dedup.gather_pairs([out], n_rows=n_rows, verified=verify), 1)

    def verify(self, sources, a, b, *, parts, scratch):
        cfg = self.cfg
        feats = stored.read_features(
            sources, sum(pq.read_table(f, columns=["idx"]).num_rows for f, _ in sources)
        )
        keep, score = verify.verify_pairs(
            a, b, feats, size=cfg.size, radius=cfg.radius, threshold=cfg.threshold, **cfg.gate_options()
        )
        return a[keep], b[keep], score.astype(np.float32)

    def explain_pairs(self, a, b, uris, store):
        t = pa.table({"a": a, "b": b, "uri_a": uris[a].tolist(), "uri_b": uris[b].tolist()})
        out = pixels.explain_table(t, store=store, tol=self.cfg.pixel_tol, stroke_tol=self.cfg.stroke_tol)
        return pixels.line_up(out, a, b)


def _manifest(tmp_path: Path) -> pa.Table:
    rng = np.random.default_rng(7)
    glyphs = [planted.glyph(rng, strokes=int(k)) for k in rng.integers(2, 4, 6)]
    files = {f"g{i}.png": planted.encode(g) for i, g in enumerate(glyphs)}
    files["copy0.png"] = files["g0.png"]  # byte copy
    files["near1.jpg"] = planted.encode(planted.transform(glyphs[1], "jpeg", rng)[0], "JPEG")
    rows = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        h, w = glyphs[0].shape
        rows.append(
            {"id": name, "uri": str(tmp_path / name), "label": "v", "split": "train", "origin": "original",
             "content_hash": hashlib.sha1(data).hexdigest(), "width": w, "height": h}
        )  # fmt: skip
    return manifest.from_rows(rows)


def test_body_groups_exact_and_near_copies_without_ray(tmp_path):
    table = _manifest(tmp_path)
    cfg = DedupConfig()
    out = dedup.dedup(table, tmp_path / "work", cfg, engine=LocalEngine(cfg)).table
    group = dict(zip(manifest.column(out, "id"), manifest.column(out, "dup_group")))
    kind = dict(zip(manifest.column(out, "id"), manifest.column(out, "dup_kind")))
    assert group["g0.png"] == group["copy0.png"] is not None and kind["copy0.png"] == "exact_bytes"
    assert group["g1.png"] == group["near1.jpg"] is not None and "near" in {kind["g1.png"], kind["near1.jpg"]}
    assert all(group[f"g{i}.png"] is None for i in range(2, 6))
    assert out.num_rows == table.num_rows and (manifest.column(out, "split") == "removed").sum() == 2

    joined = dedup.dedup(
        table, tmp_path / "work2", cfg.replace(broadcast_bytes=0), engine=LocalEngine(cfg)
    ).table  # past broadcast_bytes: candidates first, then the join's verify
    assert manifest.column(joined, "dup_group").tolist() == manifest.column(out, "dup_group").tolist()
