"""The augment, balance and split sections of report.html, on a small run built on disk without Ray."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dcai import imaging, manifest
from dcai.augment.augment import augment_table, local_map
from dcai.augment.config import AugmentConfig
from dcai.augment.report_section import render_section as render_augment
from dcai.balance.balance import balance
from dcai.balance.config import BalanceConfig
from dcai.balance.report_section import render_section as render_balance
from dcai.report.html import write_report
from dcai.runs import Run, StageContext, StageOutput
from dcai.split.config import SplitConfig
from dcai.split.report_section import render_section as render_split
from dcai.split.split import split

CLASSES = ["i", "ii", "iv", "vi"]
PER_CLASS = {"i": 6, "ii": 5, "iv": 4, "vi": 3}


def strokes(n: int, shift: int) -> np.ndarray:
    """A 32×32 white image with ``n`` dark vertical strokes, shifted so every image's bytes differ."""
    im = np.full((32, 32), 255, np.uint8)
    for k in range(n):
        x = 4 + shift % 3 + 9 * k
        im[4 + shift // 3 : 28, x : x + 3] = 0
    return im


def always_i(batch: np.ndarray) -> np.ndarray:
    """A fake validity classifier that reads every image as ``i``: crops of other classes are rejected."""
    scores = np.zeros((len(batch), len(CLASSES)))
    scores[:, 0] = 1.0
    return scores


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    rows = []
    for label, n in PER_CLASS.items():
        for k in range(n):
            path, digest = imaging.write_png(strokes(min(len(label), 3), k), src)
            rows.append(
                {
                    "id": manifest.row_id(label, str(k)),
                    "uri": str(path),
                    "content_hash": digest,
                    "label": label,
                    "split": "val" if k == 0 else "train",
                    "origin": manifest.ORIGINAL,
                    "width": 32,
                    "height": 32,
                }
            )
    run = Run(tmp_path / "run")
    run.execute("ingest", lambda t, ctx: StageOutput(manifest.from_rows(rows), {}), needs_input=False)
    aug_cfg = AugmentConfig(sources={"mirror": 2, "crop": 1}, crop_positions=("tl",))

    def augment(table: pa.Table | None, ctx: StageContext) -> StageOutput:
        assert table is not None
        return augment_table(table, aug_cfg, ctx, classify=always_i, classes=CLASSES, map_tasks=local_map)

    run.execute("augment", augment, config=aug_cfg.to_dict())
    bal_cfg = BalanceConfig(budget=16, mode="cap")
    run.execute(
        "balance",
        lambda t, ctx: StageOutput(*balance(t, bal_cfg)),
        config=bal_cfg.to_dict(),
    )
    split_cfg = SplitConfig(n_folds=2, test_fraction=0.25)
    run.execute("split", lambda t, ctx: StageOutput(*split(t, split_cfg)), config=split_cfg.to_dict())
    return run.root


def section(run_dir: Path, name: str, render) -> str:
    run = Run(run_dir)
    stage_dir = run.stage_dir(name)
    assert stage_dir is not None
    return render(run_dir, stage_dir, run.report(name))


def test_augment_section_counts_samples_and_rejections(run_dir):
    report = Run(run_dir).report("augment")
    html = section(run_dir, "augment", render_augment)
    added = report["added"]
    # mirror: iv <-> vi left-right, i and ii both ways; crops of anything but i read as i and are rejected
    assert added["mirror"]["vi"] == 2 and added["crop"] == {"i": 1}
    assert sum(report["rejected"]["crop"].values()) == 3
    assert f"{report['added_total']} images added" in html
    assert "<td>crop</td>" in html and "<td>mirror</td>" in html
    assert "1 rejected" in html  # a rejected cell, e.g. ii: 0 (1 rejected)
    assert "images added per class and source" in html and "<svg" in html
    # a sample per origin: parent and new image side by side, both inlined
    assert "<h4>mirror: " in html and "<h4>crop: 1 new" in html
    pair = re.search(r"<div class='aug-pair'>(.*?)</div></div>", html)
    assert pair and pair.group(1).count('<img src="data:image/png;base64,') == 2
    assert "iv → <b>vi</b>" in html
    assert "reads as i" in html  # the rejection reason
    assert f"Rejected or failed ({sum(report['rejected']['crop'].values())})" in html


def test_balance_section_before_after_and_surplus_per_origin(run_dir):
    report = Run(run_dir).report("balance")
    html = section(run_dir, "balance", render_balance)
    before = manifest.counts(Run(run_dir).manifest("augment"))
    i_before = before["train"].get("i", 0) + before["val"].get("i", 0)
    assert report["to_surplus"] > 0
    assert f"Budget 16 rows of train + val; kept {report['kept_total']}" in html
    assert f"{report['to_surplus']} moved to <b>surplus</b>" in html
    assert f"<tr><td>i</td><td>{i_before}</td><td>{report['available']['i']}</td>" in html
    assert "before and after" in html and "<title>after / i: 4</title>" in html
    # per origin: originals stay before derived images, so the surplus is mostly mirror and crop rows
    out = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", html)
    per_origin = {o: (int(k), int(s)) for o, k, s, _ in out if o in ("original", "mirror", "crop")}
    assert sum(s for _, s in per_origin.values()) == report["to_surplus"]
    assert sum(k for k, _ in per_origin.values()) == report["kept_total"]


def test_split_section_folds_test_and_group_check(run_dir):
    table = Run(run_dir).manifest("split")
    html = section(run_dir, "split", render_split)
    n_test = int((manifest.column(table, "split") == "test").sum())
    assert n_test > 0
    assert f"Test: {n_test} images" in html
    assert "fold 0 (val)" in html and "<td>fold 1</td>" in html
    assert "Group check passed: 0 of " in html
    assert "images per class and fold" in html


def test_split_section_reports_a_family_that_straddles(run_dir):
    run = Run(run_dir)
    stage_dir = run.stage_dir("split")
    table = run.manifest("split")
    split_col = manifest.column(table, "split")
    a = int(np.flatnonzero(split_col == "train")[0])
    b = int(np.flatnonzero(split_col == "val")[0])
    # make a val row the child of a train row, as if the split had ignored the parent link
    parents = table.column("parent").to_pylist()
    parents[b] = table.column("id")[a].as_py()
    broken = table.set_column(table.column_names.index("parent"), "parent", pa.array(parents, pa.string()))
    manifest.write(broken, stage_dir / "manifest.parquet")
    html = render_split(run_dir, stage_dir, run.report("split"))
    assert "Group check FAILED" in html and "1 of " in html


def test_sections_survive_reports_with_missing_keys(tmp_path):
    stage_dir = tmp_path / "run" / "03-augment"
    stage_dir.mkdir(parents=True)
    for render in (render_augment, render_balance, render_split):
        html = render(tmp_path / "run", stage_dir, {})
        assert html.startswith("<h2>")
    old = {"added": {"mirror": {"i": 2}}, "rejected_examples": ["augment: crop c 0.85: reads as ii"]}
    html = render_augment(tmp_path / "run", stage_dir, old)
    assert "<td>mirror</td><td>2</td>" in html and "crop c 0.85: reads as ii" in html


def test_write_report_has_all_three_sections(run_dir):
    page = write_report(run_dir).read_text()
    assert "<h2>Augment: 02-augment</h2>" in page
    assert "<h2>Balance: cap classes under a budget</h2>" in page
    assert "<h2>Split: 2 folds, fold 0 is val</h2>" in page
    assert page.index("Augment:") < page.index("Balance:") < page.index("Split:")
