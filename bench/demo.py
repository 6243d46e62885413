"""`make demo` as a new user runs it: a fresh clone, set-up included, timed; the before/after it prints.

    python -m bench.demo [--keep]    # -> bench/results/demo.json and the demo section of BENCHMARKS.md

The clone is of the committed HEAD (what CI and a user get), made in a temporary folder; the
virtualenv is built there by the Makefile as on a new machine (pip's local wheel cache still applies).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, machine, write_section

RESULTS = ROOT / "bench" / "results" / "demo.json"


def run(keep: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="dcai-demo-"))
    clone = work / "dcai"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "RAY_"))}
    t0 = time.time()
    setup = subprocess.run(["make", "venv"], cwd=clone, env=env, capture_output=True, text=True)
    t1 = time.time()
    demo = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True)
    t2 = time.time()
    out = demo.stdout + demo.stderr
    (RESULTS.parent / "demo.log").write_text(out[-20000:])
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(\w+) done in ([\d.]+) s", out, re.M)}
    tests = {}
    pattern = r"^\s+test (\S+)\s+([\d.]+) ± ([\d.]+) -> ([\d.]+) ± ([\d.]+).*\n(?:\s+per seed: (.*)\n)?"
    for m in re.finditer(pattern, out, re.M):
        per_seed = [float(x) for x in m.group(6).split(",")] if m.group(6) else []
        tests[m.group(1)] = {"before": float(m.group(2)), "before_std": float(m.group(3)),
                             "after": float(m.group(4)), "after_std": float(m.group(5)),
                             "paired_points": per_seed}  # fmt: skip
    seeds = re.search(r"fixed model \((\d+) epochs, (\d+) seed", out)
    result = {
        "commit": commit,
        "machine": machine(),
        "load_before": os.getloadavg()[0],
        "setup_seconds": round(t1 - t0),
        "demo_seconds": round(t2 - t1),
        "total_seconds": round(t2 - t0),
        "ok": setup.returncode == 0 and demo.returncode == 0,
        "stages": stages,
        "tests": tests,
        "schedule": {"epochs": int(seeds.group(1)), "seeds": int(seeds.group(2))} if seeds else None,
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    return result


def write() -> None:
    r = json.loads(RESULTS.read_text())
    lines = [
        "## demo: `make demo` on a fresh clone",
        "",
        f"Command: `python -m bench.demo` (clones HEAD {r['commit']} into a temporary folder, then "
        f"`make venv` and `make demo` there). Machine: {r['machine']}; 1-minute load average before: "
        f"{r['load_before']:.1f} (other jobs were running: a quiet machine is faster).",
        "",
        f"- set-up (venv, torch 2.14.1 / torchvision 0.29.1 from the local wheels, Ray, the package): "
        f"**{r['setup_seconds']} s**",
        f"- `make demo` (synth → ingest → dedup → vote → clean → augment → balance → split → export → "
        f"evaluate before and after): **{r['demo_seconds']} s**",
        f"- total **{r['total_seconds'] / 60:.1f} min** (target ≤ 10 min); finished cleanly: {r['ok']}",
        "- stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in r["stages"].items()),
        "",
    ]
    sched = r.get("schedule") or {"seeds": 1, "epochs": 5}
    lines += [f"Fixed model (demo schedule: {sched['seeds']} seeds trained at once, {sched['epochs']} epochs), "
              "accuracy before → after the pipeline (mean ± std over the seeds; the same seeds before and after, "
              "so each seed's difference is paired):", ""]  # fmt: skip
    for k, t in r["tests"].items():
        if isinstance(t, list):  # results from before the seeds were recorded: (before, after)
            t = {"before": t[0], "after": t[1], "before_std": 0.0, "after_std": 0.0, "paired_points": []}
        per = ", ".join(f"{x:+.1f}" for x in t["paired_points"])
        lines.append(
            f"- test set `{k}`: {100 * t['before']:.1f}% ± {100 * t['before_std']:.1f} → **{100 * t['after']:.1f}%** "
            f"± {100 * t['after_std']:.1f} ({100 * (t['after'] - t['before']):+.1f} points"
            + (f"; per seed {per}" if per else "")
            + ")"
        )
    lines += ["", "`test` = 500 clean images by writers the data never saw (`dcai synth` writes them); "
              "`label_book` = the 50 trusted references."]  # fmt: skip
    write_section("demo", "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.demo", description=__doc__)
    p.add_argument("what", nargs="?", choices=("run", "write"), default="run")
    p.add_argument("--keep", action="store_true", help="keep the clone")
    a = p.parse_args()
    if a.what == "run":
        print(json.dumps(run(a.keep), indent=1))
    write()


if __name__ == "__main__":
    main()
