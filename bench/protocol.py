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


def prepare(workdir: str | Path, roman: Path = ROMAN) -> dict[str, Path | int]:
    """Write the protocol's source list and clean test folder under ``workdir``."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = reviewed(roman)
    held_out = {r["path"] for r in rows}
    source = work / "source.csv"
    n_source = 0
    with open(source, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uri", "label", "split"])
        for split in SPLITS:
            for label_dir in sorted((roman / split).iterdir()):
                for img in sorted(label_dir.iterdir()):
                    rel = f"{split}/{label_dir.name}/{img.name}"
                    if rel not in held_out:
                        w.writerow([str(img.resolve()), label_dir.name, split])
                        n_source += 1
    test = work / "test"
    n_test = 0
    for r in rows:
        if r["verdict"] not in ("ok", "wrong_label"):
            continue
        dest = test / r["reviewed_label"] / Path(r["path"]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            os.symlink((roman / r["path"]).resolve(), dest)
        n_test += 1
    return {"source": source, "test": test, "n_source": n_source, "n_test": n_test}


if __name__ == "__main__":
    import sys

    print(prepare(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dcai-protocol"))
