"""Label benchmarks (issue 5): planted noise with cleanlab as baseline, the reviewed sample, end to end.

    python -m bench.labels synth --n 2000 --epochs 15   # -> bench/results/labels_synth.json
    python -m bench.labels real --epochs 15 --eval-epochs 30 --seeds 3   # -> bench/results/labels_real.json
    python -m bench.labels synth --n 2000 --epochs 10 --vote-rounds 3 --vote-only --out labels_synth_choose_drop
    python -m bench.labels write                        # the labels section of BENCHMARKS.md

Every stage runs through its pipeline (Ray Tune / Ray Train on a local Ray). cleanlab's
``find_label_issues`` runs in its own venv (/tmp/venv-cleanlab) on the vote's out-of-fold probabilities.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import protocol
from bench._common import ROMAN, ROOT, machine, table, write_section

RESULTS = ROOT / "bench" / "results"
CLEANLAB = Path("/tmp/venv-cleanlab/bin/python")
# CPU-sized members (2 shared cores): narrow where a member is expensive, full LeNet (already tiny)
# (AllConvNet ×0.25 trains at 35 images/s on this CPU against 457 at ×0.125: oneDNN's slow path for
# its channel counts; the synthetic run used ×0.25, its results record the widths it ran with.)
CPU_WIDTHS = {"resnet34": 0.125, "alexnet": 0.25, "lenet5": 1.0, "allconv": 0.125, "vgg16": 0.125}


def _cli(*argv: str) -> None:
    from dcai.cli import main

    if main(list(argv)):
        raise SystemExit(f"dcai {' '.join(argv)} failed")


def vote_cfg(a):
    from dcai.vote.config import VoteConfig

    members = tuple(a.members.split(","))
    rounds = {
        k: v
        for k, v in (
            ("rounds", a.vote_rounds),
            ("round_flagged", a.round_flagged),
            ("image_size", a.image_size),
            ("resize", a.resize),
        )
        if v is not None
    }
    return VoteConfig(members=members, widths=tuple(CPU_WIDTHS[m] for m in members), epochs=a.epochs,
                      batch_size=32, folds=a.folds, holdout_splits=a.holdout, **rounds)  # fmt: skip


def inv_cfg(a):
    from dcai.investigate.config import InvestigateConfig

    return InvestigateConfig(model=a.aux_model, epochs=a.aux_epochs, batch_size=32, lr=2e-3, folds=a.folds,
                             rounds=a.rounds, certify_per_round=a.k, review_per_round=a.l,
                             min_trusted=a.min_trusted, holdout_splits=a.holdout)  # fmt: skip


def cleanlab_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """``cleanlab.filter.find_label_issues(labels, probs)`` (defaults) in the bench venv; None without it."""
    if not CLEANLAB.exists():
        return None
    inp, out = RESULTS / "cleanlab_in.npz", RESULTS / "cleanlab_out.npy"
    np.savez(inp, probs=probs, labels=labels)
    code = ("import sys, numpy as np; from cleanlab.filter import find_label_issues as f; "
            "z = np.load(sys.argv[1]); np.save(sys.argv[2], f(z['labels'], z['probs']))")  # fmt: skip
    subprocess.run([str(CLEANLAB), "-c", code, str(inp), str(out)], check=True)
    issues = np.load(out)
    inp.unlink()
    out.unlink()
    return issues


def _col(t, name):
    from dcai import manifest

    return manifest.column(t, name) if name in t.column_names else np.full(t.num_rows, None, object)


def detectors(t, truth, rows, z, *, vote_only: bool = False) -> dict:
    """Every detector on the same rows: vote flags, investigate's queue, clean's proposals, cleanlab."""
    from dcai.review.truth import score

    n = t.num_rows
    out = {}
    noisy, amb = _col(t, "vote_noisy") == True, _col(t, "vote_ambiguous") == True  # noqa: E712
    out["vote (noisy or ambiguous)"] = score(
        noisy | amb, truth, suggested=_col(t, "vote_top_label"), rows=rows
    )
    out["vote noisy only"] = score(noisy, truth, suggested=_col(t, "vote_top_label"), rows=rows)
    if not vote_only:
        inv = np.isin(_col(t, "investigate_status"), ("queued",))
        out["investigate queue"] = score(inv, truth, suggested=_col(t, "suggested_label"), rows=rows)
        act = _col(t, "clean_action")
        out["clean: any action"] = score(act != "keep", truth, suggested=_col(t, "clean_label"), rows=rows)
        out["clean: relabel or remove"] = score(np.isin(act, ("relabel", "remove")), truth,
                                                suggested=_col(t, "clean_label"), rows=rows)  # fmt: skip
    probs = z["probs"].mean(0)
    issues = cleanlab_issues(probs, z["labels"])
    if issues is not None:
        f, s = np.zeros(n, bool), np.full(n, None, object)
        zr = _rows(t, z)  # the vote's rows (label_book included); scored on ``rows`` only
        f[zr], s[zr] = issues, np.asarray(z["classes"])[probs.argmax(1)]
        out["cleanlab find_label_issues"] = score(f, truth, suggested=s, rows=rows)
    return out


def calibration(t, truth, rows, z) -> dict:
    """Member accuracies, the split-half threshold search and the automatic-action curves on ``rows``."""
    from dcai.review.truth import ERRORS
    from dcai.vote import calibrate
    from dcai.vote import scores as vs
    from dcai.vote.config import VoteConfig

    zr = _rows(t, z)
    keep = np.isin(zr, rows)
    index = {c: i for i, c in enumerate(z["classes"].tolist())}
    true = np.array([index.get(v, -1) if v is not None else -1 for v in truth["true_label"][zr][keep]])
    err = np.isin(truth["problem"][zr][keep], ERRORS)
    probs, labels = z["probs"][:, keep], z["labels"][keep]
    s = vs.vote_scores(probs, labels)
    defaults = {k: getattr(VoteConfig(), k) for k in calibrate.GRID}
    noisy_only = {**defaults, "ambiguous_max_top_prob": 0.0, "ambiguous_min_entropy": 1.01}
    return {
        "members": calibrate.accuracy(probs, true, z["members"].tolist()),
        "sweep": calibrate.sweep(s, labels, err, defaults=defaults),
        # the noisy flag alone: do the shipped noisy thresholds hold on the half they were not chosen on?
        "sweep_noisy": calibrate.sweep(s, labels, err, defaults=noisy_only),
        "auto_curves": calibrate.auto_curves(s, labels, true, err),
    }


def stage_runs(run: Path, a) -> dict:
    from dcai.clean.config import CleanConfig
    from dcai.clean.pipeline import run as clean_run
    from dcai.investigate.pipeline import run as inv_run
    from dcai.runs import Run
    from dcai.vote.pipeline import run as vote_run

    t0 = time.time()
    if a.rescore:  # the finished vote as it is: scored again by this code, nothing trained
        report = Run(run).report("vote")
        return {"vote_seconds": round(report["seconds"]), "vote_report": report, "rescored": True}
    vote_report, _ = vote_run(str(run), vote_cfg(a))
    t1 = time.time()
    if a.vote_only:
        return {"vote_seconds": round(t1 - t0), "vote_report": vote_report}
    inv_report, _ = inv_run(str(run), inv_cfg(a))
    t2 = time.time()
    clean_run(str(run), CleanConfig(auto=a.what == "real"))
    return {"vote_seconds": round(t1 - t0), "investigate_seconds": round(t2 - t1), "vote_report": vote_report,
            "investigate_rounds": inv_report["rounds"]}  # fmt: skip


def vote_rounds(t, truth, rows, z, report: dict) -> list[dict]:
    """The vote's noisy flag after each round (and cleanlab on that round's probabilities), scored on ``rows``."""
    from dcai.review.truth import score
    from dcai.vote import scores as vs
    from dcai.vote.config import FLAG_OPTIONS

    zr, n, classes = _rows(t, z), t.num_rows, np.asarray(z["classes"])
    summaries = json.loads(str(z["rounds"])) if "rounds" in z else []
    by_round = z["round_probs"] if "round_probs" in z else z["probs"][None]
    known = np.isin(zr, rows)
    index = {c: i for i, c in enumerate(classes.tolist())}
    true = np.array([index.get(v, -1) if v is not None else -1 for v in truth["true_label"][zr]])
    thresholds = {k: report["config"][k] for k in FLAG_OPTIONS}
    averaging = report["config"].get("rounds_scored", "last") == "all"

    def noisy_score(probs):
        s = vs.vote_scores(probs, z["labels"])
        noisy, _ = vs.flags(s, z["labels"], **thresholds)
        f, sug = np.zeros(n, bool), np.full(n, None, object)
        f[zr], sug[zr] = noisy, classes[np.maximum(s["top"], 0)]
        return probs, s, sug, score(f, truth, suggested=sug, rows=rows)

    out = []
    for r in range(len(by_round)):
        # the two ways to score rounds, whichever the stage used; the stage's is the row's noisy_score
        alone = noisy_score(by_round[r])
        averaged = noisy_score(np.mean(by_round[: r + 1], axis=0)) if r else alone
        probs, s, sug, scored = averaged if averaging else alone
        ok = known & (true >= 0)
        row = {**(summaries[r] if r < len(summaries) else {"round": r + 1}),
               "accuracy_vs_true": round(float((s["top"][ok] == true[ok]).mean()), 4),
               "noisy_score": scored}  # fmt: skip
        if r:
            row["noisy_score_round_alone"], row["noisy_score_rounds_averaged"] = alone[3], averaged[3]
        issues = cleanlab_issues(probs.mean(0), z["labels"])
        if issues is not None:
            f = np.zeros(n, bool)
            f[zr] = issues
            row["cleanlab_score"] = score(f, truth, suggested=sug, rows=rows)
        out.append(row)
    return out


def _rows(t, z):
    pos = {rid: i for i, rid in enumerate(_col(t, "id"))}
    return np.array([pos[i] for i in z["ids"]])


def synth_run(a) -> tuple[Path, Path]:
    """``(folder, run)``: ``dcai synth`` with planted noise (made once per n / seed), ingested into ``run``."""
    out = Path(a.workdir) / f"synth-n{a.n}-s{a.seed}"
    if not (out / "truth.csv").exists():
        _cli(
            "synth",
            str(out),
            "--n",
            str(a.n),
            "--seed",
            str(a.seed),
            "--set",
            f"mislabel_rate={a.mislabel_rate}",
        )
    run = out / "run"
    _cli("ingest", str(out / "data"), "--run", str(run))
    return out, run


def synth(a) -> dict:
    from dcai.investigate.pipeline import run as inv_run
    from dcai.review.truth import align, score
    from dcai.runs import Run

    out, run = synth_run(a)
    res = {"setup": {"n": a.n, "seed": a.seed, "mislabel_rate": a.mislabel_rate}, **stage_runs(run, a)}
    t = Run(run).manifest("vote" if a.vote_only else "clean")
    z = np.load(Run(run).stage_dir("vote") / "probs.npz")
    truth, rows = align(t, out / "truth.csv"), _rows(t, z)
    rows = rows[_col(t, "split")[rows] != "label_book"]
    res["problems"] = {
        p: int((truth["problem"][rows] == p).sum()) for p in sorted(set(truth["problem"][rows]))
    }
    res["detectors"] = detectors(t, truth, rows, z, vote_only=a.vote_only)
    res["vote_rounds"] = vote_rounds(t, truth, rows, z, res["vote_report"])
    res.update(calibration(t, truth, rows, z))
    if a.vote_only:
        return res
    # The loop with a simulated reviewer: how many reviews buy how much label accuracy.
    rev = out / "run-review"
    _cli("ingest", str(out / "data"), "--run", str(rev))
    t0 = time.time()
    rep, _ = inv_run(str(rev), inv_cfg(a), truth_csv=str(out / "truth.csv"))
    tr = Run(rev).manifest("investigate")
    tt = align(tr, out / "truth.csv")
    play = np.flatnonzero(np.isin(_col(tr, "source_split"), ("train", "val")) & tt["known"])
    raw = Run(rev).manifest("ingest")

    def label_acc(tab):
        lab, split = _col(tab, "label")[play], _col(tab, "split")[play]
        junk = np.array([v is None for v in tt["true_label"][play]])
        good = np.where(junk, split == "removed", (lab == tt["true_label"][play]) & (split != "removed"))
        return round(float(good.mean()), 4)

    res["reviewer_loop"] = {"rounds": rep["rounds"], "reviewed": rep["reviewed"], "seconds": round(time.time() - t0),
                            "labels_right_before": label_acc(raw), "labels_right_after": label_acc(tr),
                            "picks_score": score(np.isin(_col(tr, "investigate_status"), ("reviewed", "removed", "queued")),
                                                   tt, rows=play)}  # fmt: skip
    return res


def real_source(work: Path) -> Path:
    """Every image, the 500 reviewed ones in split ``holdout`` (scored, never trained on)."""
    work.mkdir(parents=True, exist_ok=True)
    held = {r["path"] for r in protocol.reviewed()}
    src = work / "source.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uri", "label", "split"])
        for split in protocol.SPLITS:
            for img in sorted((ROMAN / split).glob("*/*")):
                rel = f"{split}/{img.parent.name}/{img.name}"
                w.writerow([str(img.resolve()), img.parent.name, "holdout" if rel in held else split])
    return src


def end_to_end(tables: dict, work: Path, a) -> dict:
    """The fixed model (engine of evaluate) over seeds: train/val of each table, test = the clean sample
    (the development protocol's test images, :func:`bench.protocol.split`)."""
    from dcai.evaluate import core
    from dcai.evaluate.config import EvaluateConfig
    from dcai.evaluate.sources import ImageList, from_manifest

    test = ImageList("sample")
    for path, label in protocol.split()[1]:
        test.uris.append(str(path))
        test.labels.append(label)
        test.hashes.append(None)
    cfg = EvaluateConfig(seeds=a.seeds, epochs=a.eval_epochs, device="cpu", test_splits=())
    out = {"recipe": {"epochs": a.eval_epochs, "seeds": a.seeds, "batch_size": cfg.batch_size, "lr": cfg.lr}}
    for name, t in tables.items():
        train, val, _ = from_manifest(t, train_splits=("train",), val_splits=("val",), test_splits=())
        data = core.prepare(train, val, {"sample": test}, max_images=cfg.max_images, cache_dir=work / "cache")
        t0 = time.time()
        results = core.fit_local(data, cfg, verbose=False)
        s = core.summarize(results, data, cfg, seconds=time.time() - t0)
        out[name] = {"n_train": s["n_train"], "n_val": s["n_val"], "test": s["test"]["sample"],
                     "val_acc_mean": s["val_acc_mean"], "seconds": s["train_seconds"]}  # fmt: skip
        print(f"end-to-end {name}: {s['test']['sample']}", flush=True)
    return out


def real(a) -> dict:
    from dcai.clean.config import CleanConfig
    from dcai.clean.pipeline import apply, vote_accuracy, vote_flag_options
    from dcai.review.truth import align
    from dcai.runs import Run

    work = Path(a.workdir) / "real"
    src = real_source(work)
    run = work / "run"
    _cli("ingest", str(src), "--run", str(run))
    res = stage_runs(run, a)
    r = Run(run)
    z = np.load(r.stage_dir("vote") / "probs.npz")
    shutil.copy(ROMAN / "reviewed_sample.csv", work / "reviewed_sample.csv")
    scored = r.manifest("investigate")  # every score column, before clean changes a label
    variants = {"raw": r.manifest("ingest")}
    for name, cfg in (("clean --auto", CleanConfig(auto=True)),
                      ("clean --auto, doubtful removed", CleanConfig(auto=True, doubtful="remove"))):  # fmt: skip
        # as the clean stage does: the vote's own thresholds and out-of-fold accuracy gate each change
        t, _, metrics = apply(
            scored, cfg, flag_options=vote_flag_options(r), evidence_accuracy=vote_accuracy(r)
        )
        variants[name] = t
        truth = align(t, work / "reviewed_sample.csv")
        hold = np.flatnonzero(_col(t, "split") == "holdout") if name == "clean --auto" else None
        if hold is not None:
            res["detectors"] = detectors(t, truth, hold, z)
            res.update(calibration(t, truth, hold, z))
            res["sample"] = {
                k: int((truth["problem"][hold] == k).sum()) for k in ("clean", "mislabel", "junk")
            }
        res.setdefault("clean_actions", {})[name] = metrics["actions"]
        res.setdefault("clean_expected_precision", {})[name] = metrics["expected_precision"]
    if a.seeds:  # --seeds 0: the pipeline benchmark (bench/pipeline.py) measures it on the same protocol
        res["end_to_end"] = end_to_end(variants, work, a)
    return res


def _pct(x) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}%"


def _detector_table(r: dict) -> str:
    rows = [[k, v["flagged"], v["errors"], _pct(v["precision"]), _pct(v["recall"]), f"{v['f1']:.3f}",
             _pct(v.get("suggestion_accuracy"))] for k, v in r["detectors"].items() if "f1" in v]  # fmt: skip
    return table(["detector", "flagged", "errors", "precision", "recall", "F1", "suggestion accuracy"], rows)


def _rounds_table(runs: list[tuple[str, dict]]) -> str:
    """One row per vote round of each run: what it trained on, and its noisy flag (and cleanlab) scored, as the
    stage would have scored had it stopped there (every round so far averaged, or the round alone)."""
    rows = []
    for name, r in runs:
        for x in r.get("vote_rounds", []):
            d, c = x["noisy_score"], x.get("cleanlab_score", {})
            rows.append([name, x["round"], x.get("trained_on", "–"), x.get("relabelled", 0), d["flagged"],
                         _pct(d["precision"]), _pct(d["recall"]), f"{d['f1']:.3f}", _pct(d.get("suggestion_accuracy")),
                         _pct(x["accuracy_vs_true"]), f"{c['f1']:.3f}" if c else "–",
                         *(f"{x[k]['f1']:.3f}" if k in x else "–"
                           for k in ("noisy_score_round_alone", "noisy_score_rounds_averaged")),
                         f"{x['seconds']:.0f} s" if "seconds" in x else "–"])  # fmt: skip
    return table(["run", "round", "trained on", "relabelled", "noisy", "precision", "recall", "F1",
                  "suggestion accuracy", "ensemble accuracy vs truth", "cleanlab F1", "F1, this round's models alone",
                  "F1, rounds so far averaged",
                  "round wall"], rows)  # fmt: skip


def _one_vs_last(rounds: list[dict], target: float = 0.9) -> str:
    """Round 1 against the last round, and how far the noisy flag's F1 is from ``target`` (issue 5)."""
    a, b = rounds[0], rounds[-1]
    f, g = a["noisy_score"], b["noisy_score"]
    cl = (f"; cleanlab on the same probabilities {a['cleanlab_score']['f1']:.3f} → {b['cleanlab_score']['f1']:.3f}"
          if "cleanlab_score" in a and "cleanlab_score" in b else "")  # fmt: skip
    gap = g["f1"] - target
    return (f"\nRound 1 → round {b['round']}, same data and seed: the noisy flag's F1 {f['f1']:.3f} → {g['f1']:.3f} "
            f"(precision {_pct(f['precision'])} → {_pct(g['precision'])}, recall {_pct(f['recall'])} → "
            f"{_pct(g['recall'])}), suggestion accuracy {_pct(f['suggestion_accuracy'])} → "
            f"{_pct(g['suggestion_accuracy'])}, ensemble accuracy vs the true labels {_pct(a['accuracy_vs_true'])} → "
            f"{_pct(b['accuracy_vs_true'])}{cl}. Target F1 ≥ {target}: "
            + ("met." if gap >= 0 else f"not met, {-gap:.3f} short."))  # fmt: skip


def _thresholds(r: dict) -> str:
    from dcai.vote import calibrate

    sw = r["sweep"]
    b, d = sw["best_on_report_half"], sw["defaults_on_report_half"]
    return (f"\nThresholds (split-half: grid search on a random half, scored on the other): best "
            f"{ {k: b[k] for k in calibrate.GRID} } → F1 {b['f1']:.3f}; shipped defaults "
            f"{ {k: d[k] for k in calibrate.GRID} } → F1 {d['f1']:.3f} (precision {_pct(d['precision'])}, "
            f"recall {_pct(d['recall'])}).")  # fmt: skip


def _setup(r: dict) -> str:
    v, a = r["vote_report"], r["settings"]
    widths = v.get("config", {}).get("widths") or [CPU_WIDTHS[m] for m in v["members"]]

    def took(seconds) -> str:  # a stage reused from an earlier run of the bench records no time
        return (
            f"{seconds:.0f} s"
            if seconds and seconds >= 1
            else "time not recorded (stage reused from an earlier run)"
        )

    return (f"Vote: {', '.join(f'{m} ×{w}' for m, w in zip(v['members'], widths))} (channel widths), {a['folds']} folds, "
            f"{a['epochs']} epochs, batch 32, heavy augmentation, {len(v.get('rounds') or [1])} round(s): "
            f"{took(v['fan_out_seconds'])} wall for "
            f"{len(v['trials'])} Tune trials. Investigate: {a['aux_model']} auxiliary model, {a['aux_epochs']} epochs, "
            f"{a['rounds']} rounds, K = {a['k']}, L = {a['l']}: {took(r['investigate_seconds'])}.")  # fmt: skip


def write(results: Path) -> None:
    """The BENCHMARKS.md section from the saved JSON results."""
    from dcai.vote import rounds as vr

    parts = [
        f"Machine: {machine()}, shared with other jobs. **No GPU was lent to this work: no GPU figure was "
        "measured** (the H100 target of 5 members × 5 folds in ≤ 5 min is untested). Models are CPU-sized "
        "(narrow members, 15 epochs), so these are lower bounds of what the method does with full-width "
        "members trained longer."
    ]
    p = results / "labels_synth.json"
    if p.exists():
        r = json.loads(p.read_text())
        parts += [f"\n### Synthetic planted noise\n\n`{r['command']}`: `dcai synth --n {r['setup']['n']} "
                  f"--seed {r['setup']['seed']} --set mislabel_rate={r['setup']['mislabel_rate']}` (mislabels biased "
                  f"to look-alike pairs, plus blank / scribble / off-class junk); problems among train+val: "
                  f"{r['problems']}. \"Error\" = mislabel or junk (duplicates carry the right label).\n",
                  _setup(r), "", _detector_table(r)]  # fmt: skip
        if len(r.get("vote_rounds", [])) > 1:
            parts.append(f"\nVote rounds ({r['vote_report']['config']['round_flagged']} the last round's noisy "
                         f"images; the table above scores {vr.scoring(r['vote_report']['config'])}; vote wall {r['vote_seconds']} s):\n\n"
                         + _rounds_table([("this run", r)]))  # fmt: skip
        parts.append("\nOut-of-fold accuracy against the true labels: "
                     + ", ".join(f"{k} {_pct(v)}" for k, v in r["members"].items()))  # fmt: skip
        parts.append(_thresholds(r))
        rel = [
            [c["min_prob"], c["max_agreement"], c["n"], _pct(c["right"] / max(c["n"], 1))]
            for c in r["auto_curves"]["relabel"]
        ]
        parts.append("\nAutomatic relabel (top label ≠ given): how often the new label is the true one\n\n"
                     + table(["min top prob", "max agreement", "relabels", "right"], rel))  # fmt: skip
        junk = [
            [c["max_top_prob"], c["min_entropy"], c["n"], _pct(c["error"] / max(c["n"], 1))]
            for c in r["auto_curves"]["junk"]
        ]
        parts.append("\nAutomatic junk removal (low top probability, high entropy): share that really are errors\n\n"
                     + table(["max top prob", "min entropy", "removed", "errors"], junk))  # fmt: skip
        lp = r["reviewer_loop"]
        rows = [[x["round"], x["trained_on"], x["train"], x["val"], _pct(x["val_acc"]), x["certified"], x["queued"],
                 _pct(x["validated_share"]), _pct(x.get("pipeline_accuracy")), _pct(x.get("certified_precision")),
                 _pct(x.get("suggestion_accuracy"))] for x in lp["rounds"]]  # fmt: skip
        parts.append(f"\nThe investigate loop with `--simulate-reviewer truth.csv` (Table 1 of the paper; {lp['seconds']} s): "
                     f"{sum(lp['reviewed'].values())} reviews ({lp['reviewed']}) took the share of train+val images "
                     f"with the right label (junk removed) from {_pct(lp['labels_right_before'])} to "
                     f"{_pct(lp['labels_right_after'])}.\n\n"
                     + table(["round", "trained on", "train", "val", "val acc", "certified", "queued", "validated",
                              "pipeline acc", "certified right", "suggestion right"], rows))  # fmt: skip
    main = results / "labels_synth.json"
    main_setup = json.loads(main.read_text())["setup"] if main.exists() else {}
    for p in sorted(results.glob("labels_synth_vote*.json")):  # labels_synth_vote, then its variants
        r = json.loads(p.read_text())
        setup = r.get("setup", main_setup)
        same = all(setup.get(k) == main_setup.get(k) for k in ("n", "seed", "mislabel_rate"))
        data = ("the data above" if same else
                f"`dcai synth --n {setup['n']} --seed {setup['seed']} --set mislabel_rate={setup['mislabel_rate']}` "
                "(the generator above, another seed)")  # fmt: skip
        v, a = r["vote_report"], r["settings"]
        widths = v["config"]["widths"] or [v["config"]["width"]] * len(v["members"])
        size = v["config"].get("image_size", 32)
        how = v["config"].get("resize", "tf")  # results from before the option read the fixed model's resize
        title = f"The vote at {size} px inputs, {how} resize ({len(v['rounds'])} rounds)"
        parts += [f"\n### {title}, {'same data' if same else 'seed ' + str(setup['seed'])}\n\n"
                  + (f"{r['note']}\n\n" if r.get("note") else "") + f"`{r['command']}`: the "
                  f"vote alone on {data}; {', '.join(f'{m} ×{w}' for m, w in zip(v['members'], widths))}, "
                  f"{size} px inputs ({how} resize), "
                  f"{a['folds']} folds, {a['epochs']} epochs, {v['config']['round_flagged']} the last round's noisy "
                  f"images: vote wall {r['vote_seconds']} s ({v['fan_out_seconds']:.0f} s training and predicting, "
                  f"{len(v['trials'])} Tune trials). The detectors on the stage's scores ({vr.scoring(v['config'])}):\n", _detector_table(r),
                  "\nEach round (round 1 trains as a one-round vote does):\n\n" + _rounds_table([("default", r)]),
                  _one_vs_last(r["vote_rounds"]),
                  "\nOut-of-fold accuracy against the true labels, last round: "
                  + ", ".join(f"{k} {_pct(x)}" for k, x in r["members"].items()), _thresholds(r)]  # fmt: skip
        if "sweep_noisy" in r:
            b, d = r["sweep_noisy"]["best_on_report_half"], r["sweep_noisy"]["defaults_on_report_half"]
            parts.append(f"The noisy flag alone on the report half: shipped thresholds F1 {d['f1']:.3f}, the "
                         f"choice half's best ({b['noisy_min_margin']}, {b['noisy_max_agreement']}) {b['f1']:.3f}.")  # fmt: skip
    choose = sorted(results.glob("labels_synth_choose_*.json"))
    if choose:
        runs = [(p.stem.removeprefix("labels_synth_choose_"), json.loads(p.read_text())) for p in choose]
        parts.append("\n### Choosing the vote's rounds (cheaper configuration, vote alone)\n\n"
                     "Round r > 1 refits the fold models on the same folds without round r − 1's noisy images "
                     "(*drop*) or with them relabelled to the ensemble's top label (*relabel*); round 1 trains "
                     "the same way in every run. *scoring* was trained by its command without `--rescore` (before "
                     "`rounds_scored` existed: its flags read the last round) and scored again with it; its last two "
                     "columns compare the two ways to score the rounds. " + "".join(f"*{name}*: {r['note']} " for name, r in runs if r.get("note"))
                     + "Commands: " + "; ".join(f"`{r['command']}` ({r['vote_seconds']} s)"
                                                                 for _, r in runs) + "\n\n"
                     + _rounds_table(runs))  # fmt: skip
    reals = [
        json.loads(p.read_text()) for p in sorted(results.glob("labels_real*.json"))
    ]  # labels_real, variants
    for r in reals:
        c = r["vote_report"].get("config", {})
        parts += [f"\n### Real data: the 500-image reviewed sample ({c.get('image_size', 32)} px inputs, "
                  f"{c.get('resize', 'tf')} resize, {r['settings']['epochs']} epochs)\n\n"
                  + (f"{r['note']}\n\n" if r.get("note") else "") + f"`{r['command']}`. The 500 reviewed images are a "
                  f"held-out split: scored by every fold model, never trained on, so the rest of the pipeline runs "
                  f"without them as the data README asks. Sample: {r['sample']}; an error = verdict `wrong_label` or "
                  f"`remove`.\n", _setup(r), "", _detector_table(r)]  # fmt: skip
        if r.get("members"):
            parts.append("\nAccuracy of the out-of-fold predictions on the sample's `ok` / `wrong_label` images "
                         "(reviewed labels): " + ", ".join(f"{k} {_pct(x)}" for k, x in r["members"].items()))  # fmt: skip
        parts.append(f"\nClean actions over all images: {r['clean_actions']}")
        e = r.get("end_to_end")
        if e is None:
            continue
        rows = [[k, v["n_train"], v["n_val"], f"{100 * v['test']['mean']:.1f} ± {100 * v['test']['std']:.1f}",
                 ", ".join(f"{100 * x:.1f}" for x in v["test"]["per_seed"])] for k, v in e.items() if k != "recipe"]  # fmt: skip
        parts.append(f"\nEnd to end: the fixed model (evaluate's engine, {e['recipe']['seeds']} seeds, "
                     f"{e['recipe']['epochs']} epochs instead of the official 100 to fit the CPU, batch "
                     f"{e['recipe']['batch_size']}, best-val-accuracy weights) tested on the sample's `ok` and "
                     f"`wrong_label` images with their reviewed labels:\n\n"
                     + table(["training data", "train", "val", "test accuracy (%)", "per seed"], rows))  # fmt: skip
    if not reals:
        parts.append("\n(real data: not run yet: `python -m bench.labels real`)")
    elif not any("end_to_end" in r for r in reals):
        parts.append(
            "\nEnd to end (fixed model on the sample's clean images, raw data against `clean --auto`): "
            "measured by the pipeline benchmark on the same protocol, see its section (rows *raw* "
            "and *clean only*)."
        )
    write_section("labels", "\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    from dcai.models import inputs

    p = argparse.ArgumentParser(prog="python -m bench.labels")
    p.add_argument("what", choices=("synth", "real", "write"))
    p.add_argument("--workdir", default="/tmp/dcai-labels")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mislabel-rate", type=float, default=0.2)
    p.add_argument("--members", default="resnet34,alexnet,lenet5,allconv,vgg16")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=15, help="vote members' epochs")
    p.add_argument("--vote-rounds", type=int, help="vote rounds (default: VoteConfig's)")
    p.add_argument("--image-size", type=int, help="vote members' input side in px (default: VoteConfig's)")
    p.add_argument(
        "--resize", choices=inputs.RESIZE_METHODS, help="vote members' input resize (default: VoteConfig's)"
    )
    p.add_argument("--round-flagged", choices=("drop", "relabel"), help="vote round r > 1: drop or relabel")
    p.add_argument("--vote-only", action="store_true", help="synth: the vote alone (no investigate / clean)")
    p.add_argument(
        "--rescore",
        action="store_true",
        help="with --vote-only: score the workdir's finished vote again, no training",
    )
    p.add_argument("--out", help="results file name in bench/results (default labels_WHAT)")
    p.add_argument(
        "--aux-model", default="lenet5", help="investigate's auxiliary model (fixed = the paper's)"
    )
    p.add_argument("--aux-epochs", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--k", type=int, default=400, help="certified per round")
    p.add_argument("--l", type=int, default=100, help="queued per round")
    p.add_argument("--min-trusted", type=int, default=800)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--eval-epochs", type=int, default=30)
    p.add_argument("--note", default="", help="a remark printed with this run in BENCHMARKS.md")
    a = p.parse_args(argv)
    a.holdout = ("holdout",) if a.what == "real" else ()
    if a.vote_only and a.what != "synth":
        p.error("--vote-only is for synth")
    if a.rescore and not a.vote_only:
        p.error("--rescore is for --vote-only runs")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if a.what == "write":
        write(RESULTS)
        return
    result = synth(a) if a.what == "synth" else real(a)
    keys = ("epochs", "folds", "aux_model", "aux_epochs", "rounds", "k", "l", "members", "vote_rounds")
    result["settings"] = {k: getattr(a, k) for k in keys + ("round_flagged", "vote_only")}
    result["command"] = "python -m bench.labels " + " ".join(sys.argv[1:] if argv is None else argv)
    if a.note:
        result["note"] = a.note
    path = RESULTS / f"{a.out or 'labels_' + a.what}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
