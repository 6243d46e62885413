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
    for decoded in ("cache", "tensors"):  # decoded inputs: every variant reads the same, decoded once
        (run / decoded).mkdir(exist_ok=True)
        (dest / decoded).symlink_to(run / decoded)
    return dest


def engines(a) -> dict:
    from dcai.ray_runtime import init_ray
    from dcai.vote.config import VoteConfig
    from dcai.vote.pipeline import run as vote_run

    init_ray(num_cpus=2)
    base = ingested(Path(a.workdir), a.n)
    rows = []
    for engine in a.engines.split(","):
        run = fresh_copy(base, Path(a.workdir) / f"vote-{engine}-{a.inputs}-n{a.n}")
        cfg = VoteConfig(**{**VOTE, "widths": tuple(VOTE["widths"]), "members": tuple(VOTE["members"])},
                         engine=engine, inputs=a.inputs)  # fmt: skip
        t0 = time.time()
        with PeakMemory() as mem:
            report, _ = vote_run(str(run), cfg)
        rows.append(
            {
                "engine": engine,
                "inputs": a.inputs,
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
        shutil.rmtree(run, ignore_errors=True)  # a vote's copy of a 100k run: ~1 GB of /tmp
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


PREDICT_FOLDS = 3  # the vote's: every member's 3 fold models in each actor


def _tiles(base: Path, n: int) -> tuple[list[str], int]:
    """Files of the 100k run's tensor dataset covering ``n`` rows: past 100k, hard links of all of them
    named ``t<k>-`` (tile k; no extra disk), each tile's hashes re-keyed on reading. ``(files, tiles)``."""
    import pyarrow.parquet as pq

    from dcai.tensors import store

    src = sorted(Path(str(store.folder(base, VOTE["image_size"], "area"))).glob("*.parquet"))
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in src)
    tiles = -(-n // total)
    out = src
    if tiles > 1:
        folder = base.parent / "tiles"
        folder.mkdir(exist_ok=True)
        out = []
        for t in range(tiles):
            for f in src:
                link = folder / f"t{t:02d}-{f.name}"
                if not link.exists():
                    link.hardlink_to(f)
                out.append(link)
    return [str(f) for f in out], tiles


def _rekey(batch, *, tiles: int):
    """Tile k's ``content_hash`` → its first 38 hex digits and k: 10 tiles, 1M distinct rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if tiles == 1:
        return batch.drop_columns(["path"])
    names = [p.rsplit("/", 1)[-1][1:3] for p in batch.column("path").to_pylist()]
    keys = pc.binary_join_element_wise(pc.utf8_slice_codeunits(batch.column("content_hash"), 0, 38),
                                       pa.array(names), "")  # fmt: skip
    return batch.drop_columns(["path", "content_hash"]).append_column("content_hash", keys)


def predict(a) -> dict:
    """The vote's predict phase alone on ``n`` rows of the tensor dataset (the 100k run's, tiled past it):
    an actor pool holding every member's fold models, the out-of-fold probabilities to Parquet."""
    import functools

    import numpy as np
    import pyarrow.parquet as pq
    import ray
    import torch

    from dcai.models.vote import model_fn
    from dcai.ray_runtime import init_ray
    from dcai.tensors import pipeline as tp

    init_ray(num_cpus=2)
    base = ingested(Path(a.workdir), a.base)
    if not Path(str(tp.store.folder(base, VOTE["image_size"], "area"))).exists():  # decoded once, kept
        from dcai.runs import Run

        tp.build(base, Run(base).manifest("ingest"), size=VOTE["image_size"], method="area")
    files, tiles = _tiles(base, a.n)
    hashes = []
    for f in files:  # the rows' keys, as the predictor sees them, until n
        h = pq.read_table(f, columns=["content_hash"]).column("content_hash").to_numpy(zero_copy_only=False)
        tile = Path(f).name[1:3] if tiles > 1 else ""
        keys = tp.store.hash_keys(h) if tiles == 1 else np.char.add(h.astype("S38"), tile.encode())
        hashes.append(keys[: a.n - sum(map(len, hashes))])
        if sum(map(len, hashes)) >= a.n:
            break
    keys = np.concatenate(hashes)
    folds = np.random.default_rng(0).integers(0, PREDICT_FOLDS, len(keys))
    members = []
    for m, name in enumerate(a.members.split(",")):
        fn = model_fn(name, 10, width=dict(zip(VOTE["members"], VOTE["widths"])).get(name, 1.0))
        states = []
        for k in range(PREDICT_FOLDS):
            torch.manual_seed(m * 10 + k)
            states.append(fn().state_dict())  # initial weights: a forward pass costs the same as trained
        members.append((fn, states))
    out = Path(a.workdir) / f"predict-n{a.n}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.time()
    with PeakMemory() as mem:
        ds = ray.data.read_parquet(files[: len(hashes)], include_paths=True).map_batches(
            functools.partial(_rekey, tiles=tiles), batch_format="pyarrow", batch_size=None
        )
        tp.predict_dataset(ds, members, keys, folds, out, size=VOTE["image_size"], batch_size=1024)
    seconds = time.time() - t0
    written = tp.store.dataset(out).count_rows()
    shutil.rmtree(out, ignore_errors=True)
    row = {
        "n": len(keys),
        "rows_written": written,
        "members": f"{a.members} x {PREDICT_FOLDS} folds",
        "source": f"{a.base} synth" + (f" x {tiles} tiles (re-keyed)" if tiles > 1 else ""),
        "seconds": round(seconds, 1),
        "images_per_s": round(len(keys) / seconds),
        "driver_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "tree_peak_pss_gib": round(mem.pss / 2**30, 2),
        "tree_peak_rss_gib": round(mem.rss / 2**30, 2),
    }
    print(row, flush=True)
    return {"machine": machine(), "command": command(), "vote": VOTE, "rows": [row]}


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
    if len({r[key] for r in rows}) < 2:
        return ""
    base = rows[0]["seconds"]
    name = lambda r: r[key] + (f" ({r['inputs']})" if r.get("inputs", "driver") != "driver" else "")  # noqa: E731
    said = ", ".join(f"{name(r)} {r['seconds']:.0f} s (x{r['seconds'] / base:.2f})" for r in rows)
    why = WHY[key]
    if any(r.get("inputs", "driver") != "driver" for r in rows):
        why += (
            " (Of the engines with `inputs: driver`; `ray_data` trains on uint8 pixels, so other models, and "
            "its 10k run found the run's tensor dataset already decoded: load 0.1 s, where decoding 100k took "
            "49 s. Rows were timed at different moments on two cores shared with other jobs: compare loosely.)"
        )
    return f"End to end: {said}. {why}"


INPUTS = (
    "`inputs: driver` decodes the images into the driver (float32), ships them to every worker and predicts "
    "there; `inputs: ray_data` decodes them once by Ray Data tasks into the run's uint8 tensor dataset "
    "(`RUN/tensors/`), each Train worker reads its rows from it and an actor pool holding the fold models "
    "predicts over it into Parquet (`dcai/tensors/`). Both with the members above: narrow, 1 epoch, one round. "
    "Training reads materialised rows, not Ray Data shards: the engine stacks a trial's fold models over one "
    "copy of the rows on the device, each model with its own mask and shuffle, for every epoch; a streamed "
    "shard would be one split of the rows per worker per epoch and would have to be read once per fold model "
    "(not measured: the engine has no streaming input to measure it with)."
)


def _predict_section() -> list[str]:
    runs = [json.loads(p.read_text()) for p in RESULTS.glob("vote_predict-n*.json")]
    if not runs:
        return []
    rows = sorted(
        ([{**row, "command": r["command"]} for row in r["rows"]] for r in runs), key=lambda x: x[0]["n"]
    )
    rows = [x[0] for x in rows]
    cols = ["n", "source", "members", "seconds", "images_per_s", "driver_peak_rss_gib", "tree_peak_pss_gib",
            "tree_peak_rss_gib", "command"]  # fmt: skip
    out = ["### The predict phase alone: 10k, 100k, 1M images", "", f"{runs[0]['machine']}, a local Ray of 2 CPUs:",
           "", table(cols, [[row[k] if k != "command" else f"`{row[k]}`" for k in cols] for row in rows]), ""]  # fmt: skip
    big = rows[-1]
    reached = (
        "not measured (no 1M run yet)"
        if big["n"] < 1_000_000
        else "reached"
        if big["driver_peak_rss_gib"] <= 2
        else "NOT reached"
    )
    out += [
        f"Target: the driver at most 2 GiB at 1M images, flat as the data grows: {reached} (driver peak "
        + ", ".join(f"{r['driver_peak_rss_gib']} GiB at {r['n']:,}" for r in rows)
        + "). Ray Data's read tasks and an actor pool (at most one actor per CPU) holding every fold model "
        "stream the tensor dataset through; each actor writes its rows' out-of-fold probabilities to Parquet, "
        "so the driver holds only the rows' keys and folds (40 + 8 bytes a row) and the tree's memory is "
        "the actors, Ray's object store and its daemons. The fold models are at their initial weights (a "
        "forward pass costs the same trained); past 100k the 100k run's tensor files are hard-linked as "
        "tiles and each tile's content hashes re-keyed on reading, so 1M rows are 1M distinct keys without "
        "another 3 GB of disk. LeNet5 only: AlexNet x0.25 costs ~7x its CPU per image here.",
        "",
    ]
    return out


def write() -> None:
    parts = ["## Vote on Ray: one Trainer vs Tune trials, one node vs three, images through Ray Data", ""]
    vote = json.dumps(VOTE)
    for name, keys in (
        ("vote_engines", ["engine", "inputs", "n", "seconds", "fit_seconds", "load_seconds",
                                    "driver_peak_rss_gib", "tree_peak_pss_gib", "ensemble_oof_accuracy"]),
        ("vote_nodes", ["cluster", "n", "seconds", "fit_seconds", "ensemble_oof_accuracy"]),
    ):  # fmt: skip
        for p in sorted(RESULTS.glob(f"{name}-n*.json"), key=lambda p: int(p.stem.rsplit("-n", 1)[1])):
            r = json.loads(p.read_text())
            parts += [f"{r['machine']}; vote {vote}:", ""]
            cols = [*keys, "command"]
            fill = {"inputs": "driver"}  # rows from before the inputs option
            parts += [table(cols, [[row.get(k, fill.get(k, "")) if k != "command" else f"`{row.get(k, r['command'])}`"
                                    for k in cols] for row in r["rows"]]), ""]  # fmt: skip
            said = _compare(r["rows"], keys[0])
            parts += [said, ""] if said else []
    parts += [INPUTS, ""]
    parts += _predict_section()
    write_section("vote-ray", "\n".join(parts))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.vote_ray")
    p.add_argument("what", choices=["engines", "nodes", "predict", "write"])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--engines", default="train,tune")
    p.add_argument("--inputs", default="driver", choices=["driver", "ray_data"])
    # LeNet5 alone by default: AlexNet x0.25 costs ~7x LeNet5's CPU per image here (1,024 images, 3 folds:
    # 2.5 s vs 0.37 s), which would make the 1M run half an hour of the shared cores; memory is the point
    p.add_argument("--members", default="lenet5", help="predict: the members whose fold models predict")
    p.add_argument("--base", type=int, default=100_000, help="predict: the synth run whose images are tiled")
    p.add_argument("--workdir", default="/tmp/dcai-bench-vote")
    a = p.parse_args(argv)
    if a.what != "write":
        res = {"engines": engines, "nodes": nodes, "predict": predict}[a.what](a)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"vote_{a.what}-n{a.n}.json"
        if path.exists() and a.what != "predict":  # rows of variants not rerun stay, with their command
            key = (lambda r: (r["engine"], r.get("inputs", "driver"))) if a.what == "engines" else (
                lambda r: r["cluster"])  # fmt: skip
            new = {key(r) for r in res["rows"]}
            old = json.loads(path.read_text())
            res["rows"] = [
                {**r, "command": r.get("command", old["command"])} for r in old["rows"] if key(r) not in new
            ] + [  # fmt: skip
                {**r, "command": res["command"]} for r in res["rows"]
            ]
        path.write_text(json.dumps(res, indent=2))
    write()


if __name__ == "__main__":
    main()
