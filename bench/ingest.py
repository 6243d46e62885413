"""Synth and ingest throughput: images/s for drawing synthetic data, and for ingesting it and the competition data.

Run: ``python -m bench.ingest [--n-synth 100000] [--workdir /tmp/dcai-bench-ingest]``. Prints a table and
writes the ``ingest`` section of BENCHMARKS.md. Ray start-up is timed apart from the steady-state runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from bench._common import ROMAN, command, machine, table, write_section


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def timed_ingest(source: Path, run_dir: Path) -> tuple[int, float, dict]:
    from dcai.ingest.config import IngestConfig
    from dcai.ingest.pipeline import run

    started = time.perf_counter()
    report, _ = run(str(run_dir), IngestConfig(), source=str(source), force=True)
    return report["rows"], time.perf_counter() - started, report


def draw_only(n: int) -> float:
    """CPU seconds to draw and PNG-encode ``n`` numerals (no planting, no files)."""
    from dcai.synth.render import CLASSES, Dice, draw_numeral, encode_png, writer_style

    cpu = time.process_time()
    for i in range(n):
        encode_png(draw_numeral(i % len(CLASSES), writer_style(0, i // 25), Dice(0, i)))
    return time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    p.add_argument("--n-synth", type=int, default=100_000, help="synthetic images to write and ingest")
    p.add_argument("--per-core-n", type=int, default=5_000, help="images drawn in one process, no Ray")
    p.add_argument("--workdir", default="/tmp/dcai-bench-ingest", help="scratch folder (removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    from dcai.ray_runtime import init_ray
    from dcai.synth.config import SynthConfig
    from dcai.synth.pipeline import run as synth

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load_before = os.getloadavg()
    rows: list[list] = []

    def add(task: str, images: int, start_s: float | None, seconds: float) -> None:
        incl = images / (seconds + start_s) if start_s is not None else images / seconds
        rows.append(
            [
                task,
                f"{images:,}",
                "-" if start_s is None else f"{start_s:.1f}",
                f"{seconds:.1f}",
                f"{images / seconds:,.0f}",
                f"{incl:,.0f}",
            ]
        )
        print(rows[-1], flush=True)

    # 1. One process, no Ray: the per-core rates (CPU time, so other load on the machine counts less),
    # first drawing and PNG-encoding only, then the whole synth including planting and file writes.
    add(
        "synth draw + PNG encode only, 1 process (per CPU-second)",
        args.per_core_n,
        None,
        draw_only(args.per_core_n),
    )
    cpu = time.process_time()
    local = synth(work / "local", SynthConfig(n=args.per_core_n, test_n=0), use_ray=False)
    cpu = time.process_time() - cpu
    add("synth, 1 process, no Ray (per CPU-second)", local["images"], None, cpu)
    shutil.rmtree(work / "local")

    # 2. Ray start-up, once; every later row runs on the warm runtime.
    started = time.perf_counter()
    init_ray()
    ray_start = time.perf_counter() - started
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 0))

    # 3. Synth at scale: n chosen so that data/ (train, val, label_book) holds about --n-synth files.
    extra = 0.03 + 0.05 + 0.03  # default duplicate and junk rates: extra files on top of n
    n = max(10, round((args.n_synth - 50) / (1 + extra)))
    big = synth(work / "synth", SynthConfig(n=n, test_n=0))
    add(f"synth, Ray Data ({cpus} CPUs)", big["images"], ray_start, big["seconds"])

    # 4. Ingest of the competition data, then of the synthetic set.
    if (ROMAN / "train").is_dir():
        images, seconds, _ = timed_ingest(ROMAN, work / "run-roman")
        add("ingest dcai-roman (competition data)", images, ray_start, seconds)
    else:
        print(f"competition data not found at {ROMAN}: skipping its ingest row", file=sys.stderr)
    images, seconds, report = timed_ingest(work / "synth" / "data", work / "run-synth")
    if report["quarantined"]:
        raise RuntimeError(f"{report['quarantined']} synthetic images were quarantined")
    if images != count_files(work / "synth" / "data"):
        raise RuntimeError("ingest rows != files written")
    add("ingest synthetic", images, ray_start, seconds)

    body = "\n".join(
        [
            "## ingest: synth and ingest throughput",
            "",
            f"Command: `{command()}`  ",
            f"Machine: {machine()}; Ray {ray.__version__} local, {cpus} CPUs; "
            f"load average {load_before[0]:.1f} before the run, {os.getloadavg()[0]:.1f} after "
            "(a shared machine: other jobs compete).  ",
            f"Date: {time.strftime('%Y-%m-%d')}",
            "",
            table(["task", "images", "Ray start s", "seconds", "images/s", "images/s incl. Ray start"], rows),
            "",
            "`seconds` is wall-clock on a warm Ray runtime, except in the two `per CPU-second` rows (CPU "
            "time of one process, which other jobs on the machine disturb less). Synth draws each image from "
            "pen strokes, encodes a PNG and writes the file; ingest reads, hashes, decodes and validates every "
            "file and writes the manifest. Ray start-up is paid once per process. Most of the gap between the "
            "first two rows is creating files on this disk (ext4 on a virtual disk, mounted with `discard`); a "
            "`--workdir` on tmpfs (`/dev/shm`) narrows it. Wall-clock rows move by 2x from run to run here "
            "with the load of other jobs.",
        ]
    )
    if args.no_write:
        print(body)
    else:
        write_section("ingest", body)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
