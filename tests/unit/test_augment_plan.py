"""augment planning and the derive batch function, without Ray: counts, provenance, rejections, PNGs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcai import imaging, manifest
from dcai.augment import derive, glyphs, plan
from dcai.augment.config import AugmentConfig
from tests.unit.test_augment_glyphs import draw_numeral

CLASSES = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii"]


def parents(tmp_path: Path, labels: list[str]) -> dict[str, np.ndarray]:
    uris = []
    for k, lab in enumerate(labels):
        p = tmp_path / f"{lab}_{k}.png"
        Image.fromarray(draw_numeral(lab)).save(p)
        uris.append(str(p))
    return {
        "id": np.array([manifest.row_id(u) for u in uris], dtype=object),
        "read_uri": np.array(uris, dtype=object),
        "label": np.array(labels, dtype=object),
        "split": np.array(["train"] * len(labels), dtype=object),
    }


def test_fixed_counts_per_class_and_bounded_supply(tmp_path):
    par = parents(tmp_path, ["iv", "iv", "vi", "vii", "iii"])
    cfg = AugmentConfig(sources={"mirror": 5, "autoaugment": 2})
    tasks, info = plan.plan(par, cfg, classes=CLASSES)
    mirrors = [t for t in tasks if t["source"] == "mirror"]
    # iv -> vi twice, vi -> iv once, iii -> iii left-right only; vii is never mirrored
    assert sorted((t["label"], t["op"], t["out_label"]) for t in mirrors) == [
        ("iii", "lr", "iii"),
        ("iv", "lr", "vi"),
        ("iv", "lr", "vi"),
        ("vi", "lr", "iv"),
    ]
    assert info["planned"]["autoaugment"] == {
        c: (2 if c in ("iv", "vi", "vii", "iii") else 0) for c in CLASSES
    }
    assert info["short"]["mirror"]["vi"] == 3 and info["short"]["mirror"]["vii"] == 5
    assert tasks == plan.plan(par, cfg, classes=CLASSES)[0]  # seeded: the same plan every time


def test_target_per_class_moves_the_deficit_of_bounded_sources_to_autoaugment(tmp_path):
    par = parents(tmp_path, ["iv", "vii", "vii", "vii"])
    cfg = AugmentConfig(sources={"mirror": 1, "autoaugment": 1}, target_per_class=6)
    _, info = plan.plan(par, cfg, classes=["iv", "vi", "vii"])
    made = {c: info["planned"]["mirror"][c] + info["planned"]["autoaugment"][c] for c in ("iv", "vii")}
    assert made == {"iv": 5, "vii": 3}  # every class reaches the target ...
    assert info["planned"]["mirror"]["vii"] == 0  # ... vii through AutoAugment alone
    assert info["short"]["autoaugment"] == {"vi": 5}  # vi has no parent to augment


def test_allocate_sums_to_the_total():
    assert plan.allocate(7, {"a": 1, "b": 1, "c": 0}) == {"a": 4, "b": 3, "c": 0}
    assert sum(plan.allocate(1000, {"a": 3, "b": 7, "c": 1}).values()) == 1000


def test_derive_writes_pngs_with_provenance(tmp_path):
    par = parents(tmp_path, ["iv", "viii"])
    cfg = AugmentConfig(sources={"mirror": 1, "autoaugment": 2, "compose": 3}, validate_compose=False)
    tasks, _ = plan.plan(par, cfg, classes=CLASSES)
    out_dir = tmp_path / "run" / "images"
    rows = derive.derive(tasks, cfg, images_dir=str(out_dir), final_images_dir="/final/images")
    assert set(rows.column("status").to_pylist()) == {derive.ACCEPTED}
    by = rows.to_pylist()
    assert len({r["id"] for r in by}) == len(by)
    mirror = next(r for r in by if r["source"] == "mirror")
    assert (
        mirror["origin"] == "mirror"
        and mirror["label"] == "vi"
        and mirror["reason"] == "augment: mirror lr iv->vi"
    )
    assert mirror["parent"] == par["id"][0] and mirror["id"] == manifest.row_id(
        par["id"][0], "mirror lr iv->vi"
    )
    assert mirror["uri"].startswith("/final/images/") and Path(mirror["read_uri"]).parent == out_dir
    flipped = imaging.load(mirror["read_uri"])
    assert np.array_equal(flipped, imaging.load(par["read_uri"][0])[:, ::-1])
    composed = [r for r in by if r["source"] == "compose"]
    # each target i..vii can be spelt from both parents, viii only from iv (reusing its I): 6 * 2 + 1
    assert len(composed) == 13 and {r["label"] for r in composed} == set(cfg.compose_targets)
    for r in composed:
        assert len(glyphs.segment(imaging.load(r["read_uri"]))) == len(r["label"])
    assert sum(r["source"] == "autoaugment" for r in by) == 2 * 2


def test_derive_rejects_crops_the_classifier_reads_differently(tmp_path):
    par = parents(tmp_path, ["iii"])
    cfg = AugmentConfig(sources={"crop": 5}, crop_fraction=0.6)

    def classify(batch):
        # reads III only when all three strokes are in view, else II
        dark = (batch < 128).any(axis=1)
        runs = (dark[:, 1:] & ~dark[:, :-1]).sum(axis=1) + dark[:, 0]
        return np.stack([(runs == 2), (runs == 3)], axis=1).astype(float)

    tasks, _ = plan.plan(par, cfg, classes=["ii", "iii"])
    rows = derive.derive(
        tasks,
        cfg,
        images_dir=str(tmp_path / "img"),
        final_images_dir="/f",
        classify=classify,
        classes=["ii", "iii"],
    )
    status = dict(zip(rows.column("reason").to_pylist(), rows.column("status").to_pylist()))
    assert status["augment: crop c 0.6"] == derive.ACCEPTED
    rejected = [r for r, s in status.items() if s == derive.REJECTED]
    assert len(rejected) == 4 and all(r.endswith("reads as ii") for r in rejected)
    assert len(list((tmp_path / "img").glob("*.png"))) == 1  # rejected crops are never written


def test_derive_refuses_checked_sources_without_classifier(tmp_path):
    par = parents(tmp_path, ["iii"])
    cfg = AugmentConfig(sources={"crop": 1})
    tasks, _ = plan.plan(par, cfg, classes=CLASSES)
    with pytest.raises(Exception, match="classifier"):
        derive.derive(tasks, cfg, images_dir=str(tmp_path / "img"), final_images_dir="/f")


def test_edge_case_weight_draws_embeds_isolated_parents_more_often_and_one_changes_nothing():
    n = 40
    parents = {
        "id": np.array([f"p{i}" for i in range(n)], dtype=object),
        "read_uri": np.array([f"/x/{i}.png" for i in range(n)], dtype=object),
        "label": np.array(["i"] * n, dtype=object),
        "split": np.array(["train"] * n, dtype=object),
    }
    isolated = np.arange(n) < 4  # four edge cases of forty
    cfg = AugmentConfig(sources={"autoaugment": 400})

    def copies(tasks):
        out = np.zeros(n, int)
        for t in tasks:
            out[int(t["parent"][1:])] += t["copies"]
        return out

    plain, _ = plan.plan(parents, cfg, classes=["i"])
    same, _ = plan.plan({**parents, "isolated": isolated}, cfg, classes=["i"])
    assert plain == same  # weight 1: the draws of a run without embed
    heavy, _ = plan.plan({**parents, "isolated": isolated}, cfg.replace(edge_case_weight=9.0), classes=["i"])
    c = copies(heavy)
    assert c.sum() == 400
    # each edge case expects 9 / (4 * 9 + 36) of the draws (50), any other 1 / 72 (5.6)
    assert c[isolated].mean() > 30 > 10 > c[~isolated].mean()
    with pytest.raises(Exception, match="edge_case_weight must be > 0"):
        AugmentConfig(edge_case_weight=0.0)


def test_refill_makes_up_what_the_validity_check_turned_away(tmp_path):
    """With a per-class target, crops the classifier rejects are made up by the unbounded source that is
    on, with their own ids, so every class still reaches the target; without an unbounded source, none."""
    from dcai.augment.augment import augment_table, local_map
    from dcai.runs import Run, StageContext, StageOutput

    labels = ["ii", "ii", "iii", "iii", "iii"]
    par = parents(tmp_path, labels)
    rows = [
        {"id": i, "uri": u, "label": lab, "split": "train", "origin": manifest.ORIGINAL, "width": 64, "height": 64}
        for i, u, lab in zip(par["id"], par["read_uri"], labels)
    ]  # fmt: skip

    def reads_everything_as_ii(batch):  # every crop of iii is turned away, every crop of ii kept
        return np.tile([1.0, 0.0], (len(batch), 1))

    def augment(cfg: AugmentConfig, name: str) -> dict:
        run = Run(tmp_path / name)
        run.execute("ingest", lambda t, ctx: StageOutput(manifest.from_rows(rows)), needs_input=False)

        def body(table, ctx: StageContext) -> StageOutput:
            return augment_table(table, cfg, ctx, classify=reads_everything_as_ii, classes=["ii", "iii"],
                                 map_tasks=local_map)  # fmt: skip

        run.execute("augment", body, config=cfg.to_dict())
        table = run.manifest("augment")
        new = table.filter(manifest.column(table, "origin") != manifest.ORIGINAL)
        ids = new.column("id").to_pylist()
        assert len(ids) == len(set(ids))
        report = run.report("augment")
        return {"report": report, "per_class": dict(Counter(new.column("label").to_pylist()))}

    both = augment(AugmentConfig(sources={"crop": 1, "affine": 1}, target_per_class=12, aspect=False), "a")
    assert both["per_class"] == {"ii": 10, "iii": 9}  # 12 per class, parents included
    crops = both["report"]["rejected"]["crop"]["iii"]
    assert crops > 0 and both["report"]["refilled"] == {"iii": crops}
    assert both["report"]["added"]["affine"]["iii"] == 9 - both["report"]["added"].get("crop", {}).get(
        "iii", 0
    )
    alone = augment(AugmentConfig(sources={"crop": 1}, target_per_class=12, aspect=False), "b")
    assert "refilled" not in alone["report"] and alone["per_class"].get("iii", 0) < 9
