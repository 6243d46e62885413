"""Does each augmentation source earn its place? Each against plain affine copies, at the same count.

    python -m bench.augment_sources run [--variants affine,elastic,...] [--budget 5000] [--epochs 12]
    python -m bench.augment_sources write

On the development protocol (:mod:`bench.protocol`: the competition's images without the 500 reviewed
ones, tested on the reviewed clean images), the images as ingested (no dedup, no clean: the sources
alone are compared) get new train images to the same per-class target: ``affine`` fills it with plain
random-affine copies; ``affine+S`` asks half of it from source S (``affine`` fills whatever S cannot
make: mirrors exist for some classes only), so every variant has the same number of images and S
replaces affine copies one for one. ``S`` alone is run for the sources that can fill any count. The
fixed model (3 seeds, the CPU schedule) is scored on the reviewed images; the same seeds make the
difference with ``affine`` a paired one. Results: ``bench/results/augment_sources.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from bench import protocol
from bench._common import ROOT, machine, table, write_section

RESULTS = ROOT / "bench" / "results" / "augment_sources.json"
VARIANTS = (
    "affine", "elastic", "affine+elastic", "affine+autoaugment", "affine+heavy", "affine+mirror",
    "affine+crop", "affine+compose", "affine+aspect",
)  # fmt: skip
NEEDS_CLASSIFIER = ("crop", "compose")
TIE = 0.5  # points: a paired mean above -TIE counts as a tie with the plain copies (3 seeds)


def sources(variant: str) -> tuple[dict[str, int], bool]:
    """``(augment sources, aspect)`` of a variant name."""
    parts = variant.split("+")
    aspect = "aspect" in parts
    srcs = {p: 1 for p in parts if p != "aspect"}
    return {
        s: srcs.get(s, 0) for s in ("affine", "elastic", "heavy", "autoaugment", "crop", "mirror", "compose")
    }, aspect


def command(a) -> str:
    """The command that reruns every variant in the results (runs with ``--resume`` add variants one by one)."""
    argv = [x for x in a.argv if x != "--resume"]
    if "--variants" in argv:
        i = argv.index("--variants")
        del argv[i : i + 2]
    return "python -m bench.augment_sources " + " ".join(argv)


def run(a) -> dict:
    from dcai.augment.config import AugmentConfig
    from dcai.augment.pipeline import run as augment
    from dcai.evaluate.config import EvaluateConfig
    from dcai.evaluate.pipeline import run as evaluate
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run as ingest

    work = Path(a.workdir)
    proto = protocol.prepare(work / "protocol")
    base = work / "base"
    ingest(str(base), IngestConfig(), source=str(proto["source"]))
    n_val = sum(1 for _, _, s in protocol.split()[0] if s == "val")
    target = (a.budget - n_val) // 10  # train images per class, so that train + val = the budget
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() and a.resume else {}
    results["setup"] = {"machine": machine(), "budget": a.budget, "target_per_class": target, "epochs": a.epochs,
                        "seeds": a.seeds, "command": command(a)}  # fmt: skip
    results.setdefault("variants", {})
    for variant in a.variants.split(","):
        srcs, aspect = sources(variant)
        run_dir = work / variant
        if not (run_dir / "01-ingest").exists():
            shutil.copytree(next(base.glob("*-ingest")), run_dir / "01-ingest", symlinks=True)
        needs = any(srcs[s] for s in NEEDS_CLASSIFIER)
        cfg = AugmentConfig(sources=srcs, target_per_class=target, aspect=aspect, seed=0,
                            classifier="dcai.augment.classifier:lenet" if needs else "")  # fmt: skip
        t0 = time.time()
        aug, _ = augment(str(run_dir), cfg)
        t1 = time.time()
        ev = EvaluateConfig(seeds=a.seeds, epochs=a.epochs, device="cpu")
        report, _ = evaluate(str(run_dir), ev, test_dir=str(proto["test"]))
        test = report["test"].get("test") or report["test"]["test_dir"]
        results["variants"][variant] = {
            "added": aug.get("added"), "added_total": aug.get("added_total"), "n_train": report["n_train"],
            "n_val": report["n_val"], "test_mean": test["mean"], "test_std": test["std"],
            "test_per_seed": test["per_seed"], "augment_seconds": round(t1 - t0), "evaluate_seconds": round(time.time() - t1),
        }  # fmt: skip
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, default=str))
        print(f"{variant}: {test['mean']:.4f} ± {test['std']:.4f} {test['per_seed']}", flush=True)
    return results


def write(_a=None) -> None:
    r = json.loads(RESULTS.read_text())
    s, v = r["setup"], r["variants"]
    base = v.get("affine")
    rows, paired = [], {}
    for name, x in sorted(v.items(), key=lambda kv: -kv[1]["test_mean"]):
        diff = "–"
        if base and name != "affine":
            d = np.array(x["test_per_seed"]) - np.array(base["test_per_seed"])
            diff = f"{100 * d.mean():+.1f} ± {100 * d.std(ddof=1):.1f}"
            paired[name] = 100 * d.mean()
        rows.append([name, x["n_train"], x["n_val"], f"**{100 * x['test_mean']:.1f}%** ± {100 * x['test_std']:.1f}",
                     ", ".join(f"{100 * t:.1f}" for t in x["test_per_seed"]), diff])  # fmt: skip
    body = [
        "## augment sources: each source against plain affine copies, at the same count (issue 23)",
        "",
        f"Command: `{s['command']} --variants {','.join(v)}`, then `python -m bench.augment_sources write`. Machine: {s['machine']}, "
        "shared with other jobs. Protocol: the competition images without the 500 reviewed ones, as ingested "
        f"(no dedup, no clean); each class's train images filled to {s['target_per_class']} (train + val = "
        f"{s['budget']}); `affine+S` asks half of the new images from S and affine fills the rest; the fixed "
        f"model, {s['seeds']} seeds × {s['epochs']} epochs, tested on the reviewed clean images. Paired: the "
        "same seeds as `affine`.",
        "",
        table(["variant", "train", "val", "test accuracy", "per seed", "paired vs affine (points)"], rows),
    ]
    if paired:
        kept = [k for k, d in paired.items() if d > -TIE]
        lost = [k for k, d in paired.items() if d <= -TIE]
        body += [
            "",
            f"What the defaults take from it: no source beat the plain copies by more than its paired spread, "
            f"so augment's fixed default is affine copies alone (`dcai/augment/config.py`). Tied or ahead "
            f"(paired mean above -{TIE} points): {', '.join(kept) or 'none'}; these stay in tune's spaces "
            f"(`dcai/tune/config.py`: affine and elastic; `competition.yaml` adds compose, which needs its "
            f"validity classifier). Behind by {TIE} points or more: {', '.join(lost) or 'none'}; these left "
            "the default recipe and stay available to a recipe that names them.",
        ]
    write_section("augment-sources", "\n".join(body))


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.augment_sources", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("what", choices=("run", "write"))
    p.add_argument("--workdir", default="/tmp/dcai-augsrc")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--budget", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--resume", action="store_true", help="keep variants already in the results file")
    a = p.parse_args(argv)
    a.argv = [x for x in argv if x != "write"]
    if a.what == "run":
        run(a)
    write(a)


if __name__ == "__main__":
    main()
