"""The development protocol of ../shared/data/dcai-roman/README.md, as files dcai can read.

``prepare(workdir)`` writes ``source.csv`` (every train / val / label_book image except the 500
reviewed ones, as ``uri,label,split``) and ``test/<label>/`` (symlinks to the reviewed images whose
verdict is ``ok`` or ``wrong_label``, filed under ``reviewed_label``): run on the first, test on the second.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from bench._common import ROMAN

SPLITS = ("train", "val", "label_book")


def reviewed(roman: Path = ROMAN) -> list[dict]:
    with open(roman / "reviewed_sample.csv", newline="") as f:
        return list(csv.DictReader(f))


def split(roman: Path = ROMAN) -> tuple[list[tuple[Path, str, str]], list[tuple[Path, str]]]:
    """``(source, test)``: every train / val / label_book image but the reviewed ones as ``(path, label,
    split)``, and the reviewed images whose verdict is ``ok`` or ``wrong_label`` as ``(path, reviewed_label)``."""
    rows = reviewed(roman)
    held_out = {r["path"] for r in rows}
    source = [
        (img.resolve(), label_dir.name, s)
        for s in SPLITS
        for label_dir in sorted((roman / s).iterdir())
        for img in sorted(label_dir.iterdir())
        if f"{s}/{label_dir.name}/{img.name}" not in held_out
    ]
    test = [
        ((roman / r["path"]).resolve(), r["reviewed_label"])
        for r in rows
        if r["verdict"] in ("ok", "wrong_label")
    ]
    return source, test


def prepare(workdir: str | Path, roman: Path = ROMAN) -> dict[str, Path | int]:
    """Write the protocol's source list and clean test folder under ``workdir``."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    images, clean = split(roman)
    source = work / "source.csv"
    with open(source, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uri", "label", "split"])
        w.writerows([str(path), label, s] for path, label, s in images)
    test = work / "test"
    for path, label in clean:
        dest = test / label / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.symlink(path, dest)
    return {"source": source, "test": test, "n_source": len(images), "n_test": len(clean)}


if __name__ == "__main__":
    import sys

    print(prepare(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dcai-protocol"))
