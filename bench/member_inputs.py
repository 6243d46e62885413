"""How a vote member's inputs are made: its accuracy by input resize, size and epochs, one fit per setting.

    python -m bench.member_inputs real lenet5:1:32:tf:10 lenet5:1:32:area:10 ...
    python -m bench.member_inputs synth --root /tmp/dcai-labels/synth-n2000-s1 lenet5:1:32:tf:15 ...
    python -m bench.member_inputs write

A setting is ``member:width:size:resize:epochs`` (resize: ``dcai.models.inputs.RESIZE_METHODS``). Each
trains ``--seeds`` models at once with the vote's recipe (Adam 1e-3, batch 32, the paper's heavy
augmentation) on every training image and reports their accuracy, and that of their mean, on held-out
images whose label is right:

- ``real``: the competition data without ``reviewed_sample.csv``; tested on the sample's images whose
  verdict is ``ok`` or ``wrong_label`` (under the reviewed label), as the pipeline benchmark tests;
- ``synth``: a ``dcai synth`` folder (``data/`` with its planted noise); tested on its clean ``test/``.

Not the vote itself (no folds, no flags): a quick read of what a member can learn from its inputs,
which is what the vote's ``resize`` and ``image_size`` defaults were chosen on. Results are kept in
``bench/results/member_inputs.json`` (key: data, setting, seeds, commit: the code measured, see
:func:`commit`); ``write`` rebuilds the section.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import protocol
from bench._common import ROMAN, ROOT, command, machine, table, write_section

RESULTS = ROOT / "bench" / "results" / "member_inputs.json"


def real_items(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(train, test)`` of ``(path, label)``: the development protocol (:func:`bench.protocol.split`)."""
    source, test = protocol.split(root)
    return [(str(p), label) for p, label, _ in source], [(str(p), label) for p, label in test]


def synth_items(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(train, test)``: a ``dcai synth`` folder's ``data/<split>/<label>/`` (noisy) and ``test/<label>/``."""
    train = [
        (str(f), f.parent.name) for s in protocol.SPLITS for f in sorted((root / "data" / s).glob("*/*"))
    ]
    return train, [(str(f), f.parent.name) for f in sorted((root / "test").glob("*/*"))]


def measure(train, test, setting: str, seeds: int) -> dict:
    import torch

    from dcai.models import inputs
    from dcai.models.vote import model_fn
    from dcai.train import engine
    from dcai.train.oof import make_augment

    member, width, size, resize, epochs = setting.split(":")
    classes = sorted({label for _, label in train})
    started = time.time()
    xs = [np.stack([inputs.load(f, int(size), resize) for f, _ in items]) for items in (train, test)]
    ys = [np.array([classes.index(label) for _, label in items]) for items in (train, test)]
    fn = model_fn(member, len(classes), width=float(width))
    torch.manual_seed(0)
    fitted = engine.fit(fn, xs[0], ys[0], epochs=int(epochs), seeds=list(range(seeds)), batch_size=32, lr=1e-3,
                        augment=make_augment("heavy"), keep_best=False, device="auto")  # fmt: skip
    probs = engine.predict(fn, [r.state_dict for r in fitted], xs[1], device="auto")  # (K, N, C)
    accs = [float((p.argmax(1) == ys[1]).mean()) for p in probs]
    return {"setting": setting, "seeds": seeds, "accuracy": accs, "mean": float(np.mean(accs)),
            "ensemble": float((probs.mean(0).argmax(1) == ys[1]).mean()), "train": len(train),
            "test": len(test), "seconds": round(time.time() - started)}  # fmt: skip


def commit() -> str:
    """The code measured: HEAD's short hash, ``+`` when the working tree differs from it."""
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "dcai"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def write() -> None:
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    parts = [
        f"Machine: {machine()}, CPU only. Each row: `--seeds` models of one setting trained at once (the vote's "
        "recipe: Adam 1e-3, batch 32, heavy augmentation, every training image), tested on held-out images "
        "whose label is right. *real*: the competition data without the reviewed sample (2,432 images), tested "
        "on the sample's 440 `ok` / `wrong_label` images; *synth*: `dcai synth` with 20 % planted mislabels, "
        "tested on its 500 clean test images. Seconds are wall time while other benchmarks shared the machine. Resize *tf*: the fixed model's aliased bilinear; *area*: the "
        "average of the pixels each input pixel covers (`dcai.models.inputs`)."
    ]
    for data in ("real", "synth"):
        rows = [r for r in runs if r["data"] == data]
        if not rows:
            continue
        parts.append(f"\n**{data}** (`{rows[0]['command']}` and the same with the other settings):\n")
        parts.append(table(
            ["member", "width", "size", "resize", "epochs", "accuracy, mean of seeds", "per seed", "mean of their probabilities", "s", "code"],
            [[*r["setting"].split(":"), f"{100 * r['mean']:.1f}%", ", ".join(f"{100 * a:.1f}" for a in r["accuracy"]),
              f"{100 * r['ensemble']:.1f}%", r["seconds"], r["commit"]] for r in rows],
        ))  # fmt: skip
        parts += [f"\n{r['setting']}: {r['note']}" for r in rows if r.get("note")]
    write_section("member-inputs", "## member inputs: what a vote member learns from its input resize\n\n"
                  + "\n".join(parts))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", choices=("real", "synth", "write"))
    p.add_argument("settings", nargs="*", help="member:width:size:resize:epochs")
    p.add_argument("--root", help="data folder (default: the competition data for real)")
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_intermixed_args()  # settings before or after --root
    if a.data == "write":
        return write()
    root = Path(a.root) if a.root else ROMAN
    if not root.exists():
        raise SystemExit(f"{root} is absent: nothing to measure")
    train, test = (real_items if a.data == "real" else synth_items)(root)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    for setting in a.settings:
        r = {
            "data": a.data,
            "command": command(),
            "commit": commit(),
            **measure(train, test, setting, a.seeds),
        }
        print(f"{a.data} {setting}: mean {100 * r['mean']:.1f}% per seed {r['accuracy']} ensemble "
              f"{100 * r['ensemble']:.1f}% ({r['seconds']} s)", flush=True)  # fmt: skip
        key = ("data", "setting", "seeds", "commit")
        runs = [x for x in runs if tuple(x.get(k) for k in key) != tuple(r[k] for k in key)] + [r]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(runs, indent=1))
    write()


if __name__ == "__main__":
    main()
