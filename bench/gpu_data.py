"""The pixel archive ``python -m bench.gpu`` reads on the GPU machine, made here on the CPU.

    python -m bench.gpu_data pipeline --workdir /tmp/dcai-gpu [--budget 10000]   # the pipeline's output
    python -m bench.gpu_data pack --workdir /tmp/dcai-gpu --out .gpu/data.npz    # → the archive

``pipeline`` runs ``dcai pipeline`` (competition.yaml with bench/pipeline.py's CPU cuts, no evaluate
stages: the GPU trains the fixed model) on the protocol's images (every train / val / label_book image
but the 500 reviewed ones). ``pack`` decodes, with the fixed model's own loader, the datasets the GPU
compares (``raw``, ``naive`` to the same budget, and the pipeline's export as ``pipeline``) and the
reviewed clean test images at 32 px, plus the 2,880 competition images at the vote's 48 px area
inputs; grayscale, float16 (the tf resize's fractional pixels to 1/8 of a level), compressed. It holds
pixels, never image files; keep it out of git (``.gpu/`` is ignored).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import baselines, protocol
from bench._common import ROMAN, ROOT


def run_pipeline(a) -> None:
    import yaml

    from bench.pipeline import write_config
    from dcai.pipeline import run_pipeline as run

    work = Path(a.workdir)
    proto = protocol.prepare(work / "protocol")
    opts = argparse.Namespace(budget=a.budget, seeds=1, epochs=1, vote_epochs=a.vote_epochs, trials=a.trials,
                              trial_epochs=a.trial_epochs, trial_per_class=a.trial_per_class)  # fmt: skip
    cfg = work / "pipeline.yaml"
    write_config(cfg, "full", opts)
    data = yaml.safe_load(cfg.read_text())
    data["stages"] = [s for s in data["stages"] if not s.startswith("evaluate")]
    # The vote BENCHMARKS "labels" recommends for two CPU cores: LeNet-5 + VGG-16 x0.125, area 32 px, one round.
    data["vote"].update(members=["lenet5", "vgg16"], widths=[1.0, 0.125], rounds=1, resize="area")
    data["export"]["max_images"] = a.budget
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    summary = run(cfg, input_dir=str(proto["source"]), output_dir=str(work / "pipeline"))
    (work / "pipeline.json").write_text(json.dumps({"stages": summary["stages"], "config": data,
                                                   "commit": _commit()}, indent=1, default=str))  # fmt: skip


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def _folder(d: Path, names: list[str]):
    from dcai.evaluate.sources import classes, encode, from_folders
    from dcai.train.data import load_images

    train, val, _ = from_folders(d, train_splits=("train",), val_splits=("val",), test_splits=())
    assert classes(train, val) == names, f"{d}: classes {classes(train, val)} != {names}"

    def px(images):
        return load_images(images.uris, cache_dir=None)[..., 0].astype(np.float16), encode(images, names)

    return px(train), px(val)


def pack(a) -> None:
    from dcai.train.data import load_images

    work = Path(a.workdir)
    source, test = protocol.split()
    names = sorted({label for _, label, _ in source})
    out: dict[str, np.ndarray] = {}
    folders = {"raw": work / "raw", "naive": work / "naive", "pipeline": work / "pipeline-data"}
    for split in ("train", "val"):  # the export folder also holds the run: read its splits alone
        link = folders["pipeline"] / split
        if (work / "pipeline" / split).is_dir() and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(work / "pipeline" / split)
    baselines.raw_folder(source, folders["raw"])
    naive = baselines.naive_folder(source, folders["naive"], budget=a.budget, seed=0)
    present = [n for n, d in folders.items() if (d / "train").is_dir()]
    for name in present:
        (xt, yt), (xv, yv) = _folder(folders[name], names)
        out.update({f"{name}/x_train": xt, f"{name}/y_train": yt, f"{name}/x_val": xv, f"{name}/y_val": yv})
        print(f"{name}: {len(yt)} train, {len(yv)} val", flush=True)
    out["datasets"] = np.array(present)
    index = {c: i for i, c in enumerate(names)}
    out["test/x"] = load_images([str(p) for p, _ in test])[..., 0].astype(np.float16)
    out["test/y"] = np.array([index[label] for _, label in test])
    # The vote part: every train / val image of the competition (the reviewed ones too), 48 px area inputs.
    rows = protocol.reviewed()
    verdict = {r["path"]: r for r in rows}
    vote = [(p, s, label_dir.name) for s in ("train", "val") for label_dir in sorted((ROMAN / s).iterdir())
            for p in sorted(label_dir.iterdir())]  # fmt: skip
    out["vote/x"] = load_images([str(p) for p, _, _ in vote], size=48, method="area")[..., 0].astype(
        np.float16
    )
    out["vote/y"] = np.array([index[label] for _, _, label in vote])
    rev = []
    for p, s, label in vote:
        r = verdict.get(f"{s}/{label}/{p.name}")
        rev.append(index[r["reviewed_label"]] if r and r["verdict"] in ("ok", "wrong_label") else -1)
    out["vote/reviewed"] = np.array(rev)
    meta = json.loads((work / "pipeline.json").read_text()) if (work / "pipeline.json").exists() else {}
    out["meta/naive"] = np.array(f"raw + {naive.get('copies')} RandomAffine{baselines.AFFINE} copies of raw train "
                                 f"images to {a.budget} train + val")  # fmt: skip
    if meta:
        v = meta["config"]["vote"]
        out["meta/pipeline"] = np.array(
            f"dcai pipeline at commit {meta.get('commit')}: stages {meta['stages']}; vote {v['members']} x "
            f"{v['widths']} {v['epochs']} epochs {v['image_size']} px {v['resize']}, {v['rounds']} round; "
            "bench/gpu_data.py pipeline"
        )
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **out)
    print(f"{a.out}: {Path(a.out).stat().st_size / 2**20:.1f} MiB", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("what", choices=("pipeline", "pack"))
    p.add_argument("--workdir", default="/tmp/dcai-gpu")
    p.add_argument("--out", default=str(ROOT / ".gpu" / "data.npz"))
    p.add_argument("--budget", type=int, default=10_000)
    p.add_argument("--vote-epochs", type=int, default=30)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--trial-epochs", type=int, default=4)
    p.add_argument("--trial-per-class", type=int, default=150)
    a = p.parse_args(argv)
    if not ROMAN.is_dir():
        sys.exit(f"{ROMAN}: the competition data is not there (see ../shared/data/dcai-roman/README.md)")
    (run_pipeline if a.what == "pipeline" else pack)(a)


if __name__ == "__main__":
    main()
