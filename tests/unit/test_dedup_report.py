"""The HTML fragment: thumbnails inlined, the leakage table, and no crash on a missing file."""

import numpy as np

from bench import planted
from dcai.dedup.report_section import render_section


def test_render_section_inlines_thumbnails_and_leakage(tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(planted.encode(planted.glyph(np.random.default_rng(0))))
    members = [
        {
            "id": "a",
            "split": "train",
            "label": "v",
            "uri": str(img),
            "kind": "exact_bytes",
            "removed": False,
            "keeper": True,
        },
        {
            "id": "b",
            "split": "val",
            "label": "v",
            "uri": str(tmp_path / "gone.png"),
            "kind": "exact_bytes",
            "removed": True,
            "keeper": False,
        },
    ]
    report = {
        "images": 2,
        "groups": 1,
        "groups_by_kind": {"exact_bytes": 1, "exact_pixels": 0, "near": 0},
        "removed": 1,
        "conflict_groups": 0,
        "leakage": {
            "groups": 1,
            "by_splits": {"train+val": 1},
            "listed": [{"group": "a", "kind": "exact_bytes", "splits": ["train", "val"], "members": members}],
        },
        "listed": [{"group": "a", "kind": "exact_bytes", "conflict": False, "members": members}],
    }
    html = render_section(tmp_path, tmp_path, report)
    assert html.count("data:image/png;base64,") == 1 and "missing" in html
    assert "train+val" in html and "train / v" in html
