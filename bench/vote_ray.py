"""The vote on Ray at scale: ``dcai synth`` images, narrow members, one epoch, on this machine's CPUs.

    python -m bench.vote_ray engines --n 10000   # one TorchTrainer (engine train) vs Tune trials, 2 CPUs
    python -m bench.vote_ray nodes --n 10000     # one node of 3 CPUs vs three nodes of 1 CPU, as jobs

Each variant votes on a copy of the same ingested run. ``engines`` runs in this process on a local Ray
(2 CPUs) and records the driver's peak RSS and the whole process tree's peak PSS; ``nodes`` sends the
vote with ``ray job submit`` to a cluster from tests/local_cluster.py. Sizes are for two CPU cores:
LeNet5 at width 1 and AlexNet at 0.25, 3 folds, 1 epoch, one round.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import PeakMemory, command, machine, table, write_section

RESULTS = Path(__file__).resolve().parent / "results"
VOTE = {"members": ["lenet5", "alexnet"], "widths": [1.0, 0.25], "folds": 3, "epochs": 1, "rounds": 1,
        "augment": "none", "image_size": 32, "batch_size": 64, "folds_per_trial": 1}  # fmt: skip


def _cli(*argv: str) -> None:
    from dcai.cli import main

    if main(list(argv)):
        raise SystemExit(f"dcai {' '.join(argv)} failed")


def ingested(work: Path, n: int) -> Path:
    """``work/synth-n<N>/run`` with its ingest stage (made once, reused)."""
    out = work / f"synth-n{n}"
    if not (out / "data").exists():
        _cli("synth", str(out), "--n", str(n), "--seed", "0")
    run = out / "run"
    if not (run / "01-ingest" / "report.json").exists():
        _cli("ingest", str(out / "data"), "--run", str(run))
    return run


def fresh_copy(run: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copytree(run / "01-ingest", dest / "01-ingest")
    if (run / "cache").exists():  # decoded inputs: every variant reads the same, decoded once
        (dest / "cache").symlink_to(run / "cache")
    return dest


def engines(a) -> dict:
    from dcai.ray_runtime import init_ray
    from dcai.vote.config import VoteConfig
    from dcai.vote.pipeline import run as vote_run

    init_ray(num_cpus=2)
    base = ingested(Path(a.workdir), a.n)
    rows = []
    for engine in a.engines.split(","):
        run = fresh_copy(base, Path(a.workdir) / f"vote-{engine}-n{a.n}")
        cfg = VoteConfig(**{**VOTE, "widths": tuple(VOTE["widths"]), "members": tuple(VOTE["members"])},
                         engine=engine)  # fmt: skip
        t0 = time.time()
        with PeakMemory() as mem:
            report, _ = vote_run(str(run), cfg)
        rows.append(
            {
                "engine": engine,
                "n": a.n,
                "seconds": round(time.time() - t0, 1),
                "fit_seconds": report["fan_out_seconds"],
                "load_seconds": report["load_seconds"],
                "driver_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                "tree_peak_pss_gib": round(mem.pss / 2**30, 2),
                "ensemble_oof_accuracy": round(report["ensemble_oof_accuracy"], 3),
            }
        )
        print(rows[-1], flush=True)
    return {"machine": machine(), "command": command(), "vote": VOTE, "rows": rows}


def _job(cluster, run: Path) -> dict:
    ray = str(Path(sys.executable).parent / "ray")
    args = [
        a for k, v in VOTE.items() for a in ("--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}")
    ]
    cmd = [ray, "job", "submit", "--address", cluster.dashboard, "--working-dir", str(Path.cwd()), "--",
           sys.executable, "ray_jobs/vote.py", "--run", str(run), *args]  # fmt: skip
    t0 = time.time()
    done = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    report = json.loads(next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith('{"stage"')))
    return {"seconds": round(time.time() - t0, 1), "fit_seconds": report["fan_out_seconds"],
            "ensemble_oof_accuracy": round(report["ensemble_oof_accuracy"], 3)}  # fmt: skip


def nodes(a) -> dict:
    from tests import local_cluster

    base = ingested(Path(a.workdir), a.n)
    rows = []
    for label, workers, cpus in (("1 node x 3 CPUs", 0, 3), ("3 nodes x 1 CPU", 2, 1)):
        cluster = local_cluster.start(Path(tempfile.mkdtemp(prefix="dcaib-", dir="/tmp")), workers=workers,
                                      cpus_per_node=cpus)  # fmt: skip
        try:
            run = fresh_copy(base, Path(a.workdir) / f"vote-nodes{workers + 1}-n{a.n}")
            rows.append({"cluster": label, "n": a.n, **_job(cluster, run)})
        finally:
            cluster.stop()
        print(rows[-1], flush=True)
    return {"machine": machine(), "command": command(), "vote": VOTE, "rows": rows}


WHY = {
    "engine": "One Trainer pays Ray Train's set-up (controller, worker group, process start, the data "
    "shipped to each worker) once for all fits; a Tune trial per fit pays a trial actor each, and Tune "
    "of Trainers pays a trial and a whole Trainer each, so the vote keeps `engine: train`. Every "
    "engine fits the same models (same seeds, same accuracy).",
    "cluster": "The same three logical CPUs on two physical cores, as one node or three: the vote "
    "runs unchanged across nodes and gets the same models; the times say what the nodes cost, not "
    "what more machines would buy.",
}


def _compare(rows: list[dict], key: str) -> str:
    """``a: X s, b: Y s (×r)`` against the first row, then why."""
    base = rows[0]["seconds"]
    said = ", ".join(f"{r[key]} {r['seconds']:.0f} s (x{r['seconds'] / base:.2f})" for r in rows)
    return f"End to end: {said}. {WHY[key]}"


def write() -> None:
    parts = ["## Vote on Ray: one Trainer vs Tune trials, one node vs three", ""]
    vote = json.dumps(VOTE)
    for name, keys in (
        ("vote_engines", ["engine", "n", "seconds", "fit_seconds", "load_seconds",
                                    "driver_peak_rss_gib", "tree_peak_pss_gib", "ensemble_oof_accuracy"]),
        ("vote_nodes", ["cluster", "n", "seconds", "fit_seconds", "ensemble_oof_accuracy"]),
    ):  # fmt: skip
        for p in sorted(RESULTS.glob(f"{name}-n*.json")):
            r = json.loads(p.read_text())
            parts += [f"{r['machine']}; vote {vote}:", ""]
            cols = [*keys, "command"]
            parts += [table(cols, [[row.get(k, "") if k != "command" else f"`{row.get(k, r['command'])}`"
                                    for k in cols] for row in r["rows"]]), ""]  # fmt: skip
            parts += [_compare(r["rows"], keys[0]), ""]
    write_section("vote-ray", "\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.vote_ray")
    p.add_argument("what", choices=["engines", "nodes", "write"])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--engines", default="train,tune")
    p.add_argument("--workdir", default="/tmp/dcai-bench-vote")
    a = p.parse_args(argv)
    if a.what != "write":
        res = engines(a) if a.what == "engines" else nodes(a)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"vote_{a.what}-n{a.n}.json"
        if path.exists():  # rows of variants not rerun this time stay, each with its own command
            key = "engine" if a.what == "engines" else "cluster"
            new = {r[key] for r in res["rows"]}
            old = json.loads(path.read_text())
            res["rows"] = [{**r, "command": old["command"]} for r in old["rows"] if r[key] not in new] + [
                {**r, "command": res["command"]} for r in res["rows"]
            ]
        path.write_text(json.dumps(res, indent=2))
    write()


if __name__ == "__main__":
    main()
