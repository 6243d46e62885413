"""The datasets the pipeline is compared with, as class folders ``DIR/{train,val}/<label>/``.

- ``raw``: the protocol's images as ingested (their own train / val split), linked, not copied;
- ``naive``: ``raw`` plus plain random-affine copies of its train images until train + val reach the
  budget: the simplest alternative to dcai (torchvision's ``RandomAffine``, a few lines, no search),
  the baseline the outcome issue asks the pipeline to beat.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

# Plain random-affine copies: a small turn, shift, zoom and shear, white fill (the page's colour).
AFFINE = {"degrees": 10, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 5, "fill": 255}


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(src, dest)


def raw_folder(source: list[tuple[Path, str, str]], out: str | Path) -> dict:
    """Link the ``(path, label, split)`` rows of split train / val into ``out/<split>/<label>/``."""
    out = Path(out)
    counts: dict[str, int] = defaultdict(int)
    for path, label, split in source:
        if split in ("train", "val"):
            _link(path, out / split / label / f"{counts[split]:05d}-{path.name}")
            counts[split] += 1
    return dict(counts)


def naive_folder(source: list[tuple[Path, str, str]], out: str | Path, *, budget: int, seed: int = 0) -> dict:
    """``raw`` plus random-affine copies of its train images (round robin over a shuffled list) to ``budget``."""
    import torch
    from PIL import Image
    from torchvision import transforms

    out = Path(out)
    counts = raw_folder(source, out)
    train = [(p, label) for p, label, s in source if s == "train"]
    n_copies = budget - counts.get("train", 0) - counts.get("val", 0)
    if n_copies <= 0:
        return {**counts, "copies": 0}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    affine = transforms.RandomAffine(**AFFINE)
    for i in range(n_copies):
        path, label = train[order[i % len(train)]]
        dest = out / "train" / label / f"affine-{i:05d}-{path.stem}.png"
        if dest.exists():
            continue
        with Image.open(path) as im:
            copy = affine(im.convert("L"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        copy.save(tmp, format="PNG")
        os.replace(tmp, dest)
    return {**counts, "copies": n_copies}
