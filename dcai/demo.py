"""``make demo``: draw the built-in synthetic data, run the demo pipeline on it, say where the results are."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcai.pipeline import run_pipeline


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dcai.demo", description=__doc__)
    p.add_argument("--workdir", default="runs/demo", help="where the data, run and export go")
    p.add_argument("--n", type=int, default=3000, help="synthetic images to draw")
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--set", action="append", default=[])
    args = p.parse_args(argv)

    from dcai.synth.config import SynthConfig
    from dcai.synth.pipeline import run as synth

    work = Path(args.workdir)
    data = work / "synth"
    if not (data / "truth.csv").exists():
        report = synth(str(data), SynthConfig(n=args.n))
        print(f"synth: {report['images']} images with planted problems in {data}")
    summary = run_pipeline(
        args.config,
        input_dir=str(data / "data"),
        output_dir=str(work / "export"),
        run_dir=str(work / "run"),
        sets=args.set,
        test_dir=str(data / "test"),  # clean images by writers the data never saw
    )
    print("\n".join(summary.get("headline", [])))
    print(f"\nOpen the report: {summary['report']}\nExported dataset: {summary['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
