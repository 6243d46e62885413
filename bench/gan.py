"""Do the paper's GAN images beat as many ordinary augmented images? And what do the guards do?

    python -m bench.gan run --data synth|roman [--iterations 150] [--epochs 6] [--seeds 3] [...]
    python -m bench.gan write

Per data set: the fixed model (the same seeds, the same schedule, best-val epoch) trained on (a) the
data, (b) the data + the GAN's kept images, (c) the data + as many AutoAugment images of the same
classes (augment's default unbounded source), scored on a held-out test set. The GAN: the frozen fixed
model trained on (a), the paper's losses, sampled with truncated noise, every image checked by the
validity classifier (LeNet-5 x2 trained on (a)) and the dedup check against the data. The guard table
trains one GAN per (γ, δ, guard) and reports what the validity classifier rejects and how often the
fixed model reads the drawn images as their class.

Data: ``synth``: ``dcai synth`` with the planted noise off (what a perfect cleaning leaves), its clean
test split. ``roman``: the competition data after the whole pipeline (the split stage of a
``bench.pipeline`` run, ``--pipeline-run``), tested on the reviewed clean images of its protocol
folder; images are read in place, never copied. ``--train-per-class`` takes a seeded subset of the
train rows (the CPU schedule). Results: ``bench/results/gan_<data>.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

from bench._common import ROOT, machine, table, write_section

RESULTS = ROOT / "bench" / "results"
PIPELINE_RUN = Path("/tmp/dcai-pipeline/full/run")
GUARDS = (  # (name, gamma, delta, gamma_cap, conditional discriminator)
    # γ 2 under the default cap 0.5 trains exactly this GAN: the cap guard is this row against the "no cap" ones
    ("paper: γ 0.5 (or γ 2 capped at 0.5), δ 1, conditional D", 0.5, 1.0, 0.5, True),
    ("no classifier term: γ 0, δ 1", 0.0, 1.0, 0.5, True),
    ("γ 2, δ 1, no cap, conditional D", 2.0, 1.0, 2.0, True),
    ("γ 2, δ 1, no cap, unconditional D", 2.0, 1.0, 2.0, False),
)


def _rows_from_folders(root: Path, splits: dict[str, str]) -> list[dict]:
    from dcai import manifest

    rows = []
    for folder, split in splits.items():
        for f in sorted((root / folder).glob("*/*")):
            rows.append({"id": manifest.row_id(str(f)), "uri": str(f), "label": f.parent.name, "split": split,
                         "origin": manifest.ORIGINAL})  # fmt: skip
    return rows


def _subset(rows: list[dict], per_class: int, seed: int) -> list[dict]:
    if per_class <= 0:
        return rows
    rng = np.random.default_rng(seed)
    keep = []
    for c in sorted({r["label"] for r in rows}):
        mine = [r for r in rows if r["label"] == c]
        keep += [mine[i] for i in sorted(rng.choice(len(mine), min(per_class, len(mine)), replace=False))]
    return keep


def dataset(a) -> tuple[list[dict], list[tuple[str, str]], str]:
    """``(train + val rows, test (uri, label), description)``."""
    from dcai import manifest

    work = Path(a.workdir)
    if a.data == "synth":
        from dcai.synth.config import SynthConfig
        from dcai.synth.pipeline import run as synth

        out = work / "synth"
        cfg = SynthConfig(n=a.synth_n, test_n=a.synth_test, mislabel_rate=0.0, exact_dup_rate=0.0,
                          near_dup_rate=0.0, blank_rate=0.0, scribble_rate=0.0, off_class_rate=0.0)  # fmt: skip
        if not (out / "synth.json").exists():
            synth(out, cfg, use_ray=False)
        rows = _rows_from_folders(out / "data", {"train": "train", "val": "val"})
        test = [(r["uri"], r["label"]) for r in _rows_from_folders(out, {"test": "test"})]
        desc = (
            f"`dcai synth` n={a.synth_n} with the planted noise off, its {len(test)}-image clean test split"
        )
    else:
        split = sorted(Path(a.pipeline_run).glob("*-split"))
        if not split:
            raise SystemExit(f"{a.pipeline_run}: no split stage; run `python -m bench.pipeline run` first")
        t = manifest.active(manifest.read(split[-1] / "manifest.parquet"))
        rows = [
            r
            for r in t.select(["id", "uri", "label", "split", "origin"]).to_pylist()
            if r["split"] in ("train", "val")
        ]
        test_dir = Path(a.pipeline_run).parent.parent / "protocol" / "test"
        test = [(str(f), f.parent.name) for f in sorted(test_dir.glob("*/*"))]
        desc = f"the competition data after the whole pipeline ({split[-1]}), tested on the {len(test)} reviewed clean images"
    train = _subset([r for r in rows if r["split"] == "train"], a.train_per_class, a.seed)
    val = [r for r in rows if r["split"] == "val"]
    return train + val, test, desc


def run(a) -> dict:
    import torch

    from dcai import manifest
    from dcai.gan import gan, sample, search, train
    from dcai.gan.config import GanConfig
    from dcai.models.fixed import RECIPE, fixed_net
    from dcai.runs import Run, StageOutput
    from dcai.train.data import load_images
    from dcai.train.engine import Trainer, predict
    from dcai.tune.trial import make_images, resize_all

    torch.set_num_threads(a.threads)
    t_start = time.time()
    rows, test, desc = dataset(a)
    run_dir = Path(a.workdir) / f"run-{a.data}"
    table = manifest.from_rows(rows)
    if not (run_dir / "01-ingest").exists():
        Run(run_dir).execute("ingest", lambda _t, _c: StageOutput(table), needs_input=False)
    cfg = GanConfig(classifier_epochs=a.classifier_epochs, width=a.width, iterations=a.iterations, device="cpu",
                    validity="dcai.augment.classifier:lenet", oversample=4, per_class=a.per_class, seed=a.seed)  # fmt: skip
    t0 = time.time()
    data = gan.prepare(table, cfg, run_dir=run_dir)
    d = data.trial
    prep_s = time.time() - t0
    print(f"prepared {len(d.y_train)} train / {len(d.y_val)} val, classifier val acc {data.classifier_val_acc:.3f} "
          f"({prep_s:.0f} s)", flush=True)  # fmt: skip
    guards, kept_main = [], None
    for name, gamma, delta, cap, cond in GUARDS[: a.guards]:
        settings = train.Settings.of(cfg, gamma=gamma, delta=delta, gamma_cap=cap, conditional_disc=cond)
        t1 = time.time()
        assert data.classifier_state is not None and data.classify is not None
        trainer = train.GanTrainer(data.gray, d.y_train, data.classifier_state, num_classes=len(d.classes),
                                   settings=settings, device="cpu")  # fmt: skip
        trainer.train(settings.iterations)
        secs = time.time() - t1
        classifier = train.frozen_classifier(data.classifier_state, len(d.classes), torch.device("cpu"))
        import copy

        drawn = sample.sample(train.generator_from(trainer.state_dict()), classes=d.classes, per_class=a.per_class,
                              classify=data.classify, classifier=classifier, index=copy.deepcopy(data.index),
                              dedup_threshold=cfg.dedup_threshold, oversample=cfg.oversample, seed=a.seed)  # fmt: skip
        tally = gan._tally(drawn, d.classes)
        guards.append({"guard": name, "gamma": gamma, "delta": delta, "gamma_cap": cap, "conditional": cond,
                       "iterations": settings.iterations, "seconds": round(secs, 1),
                       "it_per_s": round(settings.iterations / secs, 3),
                       **{k: tally[k] for k in ("drawn", "kept", "validity_rejection_rate", "duplicate_rate",
                                                "fixed_acc_drawn", "fixed_acc_kept")},
                       "last": trainer.history[-1] if trainer.history else {}})  # fmt: skip
        print(json.dumps(guards[-1]), flush=True)
        if kept_main is None:
            keep = [j for j, s in enumerate(drawn.status) if s == sample.KEPT]
            kept_main = (
                resize_all([drawn.images[j] for j in keep]),
                np.array([drawn.labels[j] for j in keep], dtype=np.int64),
            )
    assert kept_main is not None
    speed = None
    if a.time_iterations:  # the paper's width (DCGAN's 64), for the time of its 200k iterations
        settings = train.Settings.of(cfg, width=64, iterations=a.time_iterations + 2)
        t64 = train.GanTrainer(data.gray, d.y_train, data.classifier_state, num_classes=len(d.classes),
                               settings=settings, device="cpu")  # fmt: skip
        t64.train(2)  # warm-up
        t3 = time.time()
        t64.train(settings.iterations)
        per_s = a.time_iterations / (time.time() - t3)
        speed = {"width": 64, "batch": settings.batch_size, "it_per_s": round(per_s, 3),
                 "hours_for_200k": round(200_000 / per_s / 3600, 1)}  # fmt: skip
        print(json.dumps(speed), flush=True)
    gx, gy = kept_main
    ax, ay, _ = make_images(search.ORDINARY, d, per_class=a.per_class, seed=a.seed)
    pick = np.concatenate(
        [np.flatnonzero(ay == k)[: int((gy == k).sum())] for k in range(len(d.classes))]
    ).astype(int)
    ax, ay = ax[pick], ay[pick]
    n, g, m = len(d.y_train), len(gy), len(ay)
    s = a.seeds
    masks = np.zeros((3 * s, n + g + m), dtype=bool)
    masks[:, :n] = True
    masks[s : 2 * s, n : n + g] = True
    masks[2 * s :, n + g :] = True
    index = {c: i for i, c in enumerate(d.classes)}
    test = [(u, lab) for u, lab in test if lab in index]
    x_test = load_images([u for u, _ in test])
    y_test = np.array([index[lab] for _, lab in test])
    t2 = time.time()
    trainer = Trainer(functools.partial(fixed_net, len(d.classes)), np.concatenate([d.x_train, gx, ax]),
                      np.concatenate([d.y_train, gy, ay]), d.x_val, d.y_val, seeds=list(range(s)) * 3,
                      train_masks=masks, device="cpu",
                      **{k: v for k, v in RECIPE.fit_kwargs().items() if k != "epochs"})  # fmt: skip
    for _ in range(a.epochs):
        trainer.train_epoch()
    results = trainer.results()
    probs = predict(
        functools.partial(fixed_net, len(d.classes)), [r.state_dict for r in results], x_test, device="cpu"
    )
    acc = (probs.argmax(-1) == y_test).mean(axis=1)
    arms = {}
    for i, arm in enumerate(("data", "data + GAN", "data + AutoAugment")):
        arms[arm] = {"test_acc": [round(float(v), 4) for v in acc[i * s : (i + 1) * s]],
                     "best_val": [round(float(r.best_val_acc), 4) for r in results[i * s : (i + 1) * s]]}  # fmt: skip
    gan_fixed = probs[s : 2 * s]  # the (b) models on the test set: not needed; the classifier's reading of
    del gan_fixed  # the generated images is in the guard table (fixed_acc_kept)
    out = {
        "data": a.data, "description": desc, "argv": a.argv, "machine": machine(), "classes": d.classes,
        "n_train": n, "n_val": len(d.y_val), "n_test": len(y_test), "added_gan": g, "added_aug": m,
        "classifier_val_acc": round(float(data.classifier_val_acc), 4), "prepare_seconds": round(prep_s, 1),
        "guards": guards, "arms": arms, "speed": speed, "fit_seconds": round(time.time() - t2, 1),
        "seconds": round(time.time() - t_start, 1),
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"gan_{a.data}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(arms), flush=True)
    return out


def _pm(v: list[float]) -> str:
    return f"{100 * np.mean(v):.1f}% ± {100 * np.std(v):.1f}"


def write(a) -> None:
    parts = ["## gan: the paper's GAN images against ordinary augmented images (issue 18)\n"]
    for name in ("synth", "roman"):
        p = RESULTS / f"gan_{name}.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        parts.append(f"### {name}: {r['description']}\n")
        parts.append(f"Command: `python -m bench.gan {' '.join(r['argv'])}` (under `flock /work/bench.lock nice -n 10`), "
                     f"then `python -m bench.gan write`. Machine: {r['machine']}, shared with other jobs; "
                     f"**CPU only: no GPU was lent to this work**. {r['n_train']} train / {r['n_val']} val / "
                     f"{r['n_test']} test images; frozen classifier val accuracy {r['classifier_val_acc']}; "
                     f"{r['seconds']:.0f} s in all.\n")  # fmt: skip
        base = r["arms"]["data"]["test_acc"]
        rows = []
        for arm, v in r["arms"].items():
            added = {"data": 0, "data + GAN": r["added_gan"], "data + AutoAugment": r["added_aug"]}[arm]
            diff = np.subtract(v["test_acc"], base) * 100
            rows.append([arm, added, f"**{_pm(v['test_acc'])}**", ", ".join(f"{100 * x:.1f}" for x in v["test_acc"]),
                         f"{diff.mean():+.1f} ± {diff.std():.1f}", _pm(v["best_val"])])  # fmt: skip
        parts.append(
            table(
                [
                    "train data",
                    "added",
                    "test accuracy (mean ± std)",
                    "per seed",
                    "− (a), paired",
                    "best val",
                ],
                rows,
            )
        )
        g = (
            np.subtract(r["arms"]["data + GAN"]["test_acc"], r["arms"]["data + AutoAugment"]["test_acc"])
            * 100
        )
        verdict = "beat" if g.mean() > 0 else "do not beat"
        parts.append(f"\n(b) − (c): {g.mean():+.1f} ± {g.std():.1f} points: the GAN's images **{verdict}** as many "
                     "AutoAugment images here (the paper's figure: +1 point on the hidden test, after 200k iterations "
                     "on a GPU).\n")  # fmt: skip
        grows = [[x["guard"], x["iterations"], x["it_per_s"], x["drawn"], x["kept"], x["validity_rejection_rate"],
                  x["duplicate_rate"], x["fixed_acc_drawn"], x["fixed_acc_kept"]] for x in r["guards"]]  # fmt: skip
        parts.append("Guards and (γ, δ): one GAN each, same seed; rejection = share of the drawn images the validity "
                     "classifier reads as another class; fixed = share the frozen fixed model reads as their class "
                     "(low: hard, the paper's aim):\n")  # fmt: skip
        parts.append(table(["GAN", "iterations", "it/s (CPU)", "drawn", "kept", "validity rejection", "duplicates",
                            "fixed right, drawn", "fixed right, kept"], grows))  # fmt: skip
        if r.get("speed"):
            sp = r["speed"]
            parts.append(f"\nThe paper's configuration (width {sp['width']}, batch {sp['batch']}) on this CPU: "
                         f"{sp['it_per_s']} generator + discriminator iterations a second, so its 200k iterations "
                         f"would take about {sp['hours_for_200k']} hours here (no GPU was lent to measure one).")  # fmt: skip
        parts.append("")
    parts.append(
        "Reading it: the added counts are tiny (the validity check keeps 1-5% of the drawn images at these "
        "iterations), so (b) − (c) and (b) − (a) are within the seed noise (adding 8 images changes every "
        "model's shuffle; the paired std is 2-3 points): no verdict on the paper's +1 point either way. "
        "Guards: at 150 iterations no generator draws recognisable numerals (the validity classifier rejects "
        "80-95% in every row), so the cap and the conditional discriminator make no measurable difference "
        "here; the validity check is the guard that works (every kept image reads as its class to it, and "
        "γ > 0 drives the fixed model's accuracy on the kept ones to 0, against 62% without the classifier "
        "term: the push to hard images is real). Defaults of the command: 150 GAN iterations at width 16, "
        "batch 32, lr 1e-4; frozen classifier 8 epochs; fixed model 8 epochs, 3 seeds; 20 images asked per "
        "class; 60 train images per class (seeded subset).\n"
    )
    parts.append(
        "Schedule (CPU): the GAN at width 16 (the paper's DCGAN width is 64) for the iterations above, not 200k; "
        "the fixed model for the epochs in the command, not 100; the train rows subset per class as in the command. "
        "At these iterations the generator has not learnt the numerals: read the figures as the CPU configuration's, "
        "not as a test of the paper's claim. The time for 200k iterations follows from it/s (CPU here; no GPU lent)."
    )
    write_section("gan", "\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data", choices=("synth", "roman"), required=True)
    r.add_argument("--workdir", default="/tmp/dcai-gan-bench")
    r.add_argument("--pipeline-run", default=str(PIPELINE_RUN))
    r.add_argument("--iterations", type=int, default=150)
    r.add_argument("--width", type=int, default=16)
    r.add_argument("--epochs", type=int, default=8)
    r.add_argument("--classifier-epochs", type=int, default=8)
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--per-class", type=int, default=20)
    r.add_argument("--train-per-class", type=int, default=60)
    r.add_argument("--guards", type=int, default=len(GUARDS))
    r.add_argument("--synth-n", type=int, default=1000)
    r.add_argument("--synth-test", type=int, default=300)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--time-iterations", type=int, default=10, help="iterations timed at width 64; 0 = skip")
    r.add_argument("--seed", type=int, default=0)
    sub.add_parser("write")
    a = p.parse_args(argv)
    a.argv = ["run", *(argv if argv is not None else __import__("sys").argv[1:])[1:]]
    run(a) if a.cmd == "run" else write(a)


if __name__ == "__main__":
    main()
