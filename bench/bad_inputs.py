"""Every bad input of tests/bad_cases.py through the CLI, as a user would: how many were tried, how many
ended in a traceback, how many user files changed. Writes the "bad-inputs" section of BENCHMARKS.md.

    python -m bench.bad_inputs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench._common import command, machine, table, write_section
from tests.bad_cases import CASES, Unavailable, run_case


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--no-write", action="store_true", help="print the table only")
    args = p.parse_args(argv)
    rows, outcomes, skipped = [], [], []
    started = time.time()
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="dcai-bad-") as tmp:
            try:
                o = run_case(case, Path(tmp))
            except Unavailable as e:
                skipped.append(f"{case.name} ({e})")
                continue
        tmp = str(Path(tmp).resolve())
        outcomes.append(o)
        first = (
            o.stderr.strip().splitlines()[-1] if o.stderr.strip() and o.code == 2 else "quarantined, exit 0"
        ).replace(tmp, "TMP")  # the case's own temp folder
        rows.append([case.name, case.inputs, o.code, "yes" if o.traceback else "no", len(o.files_changed),
                     "ok" if o.ok else "; ".join(o.problems), first.replace("|", "/")[:140]])  # fmt: skip
        print(f"{'ok ' if o.ok else 'BAD'} {case.name}: {o.seconds:.1f} s", flush=True)
    tried = sum(o.inputs for o in outcomes)
    tracebacks = sum(o.traceback for o in outcomes)
    lost = sum(len(o.files_changed) for o in outcomes)
    failed = [o.name for o in outcomes if not o.ok]
    body = "\n".join(
        [
            "## Bad inputs: what a new user gets wrong, through the CLI",
            "",
            f"`{command()}` ({machine()}, {time.time() - started:.0f} s): every case of `tests/bad_cases.py`, "
            "each a `python -m dcai ...` subprocess; the user's files hashed before and after.",
            "",
            f"**bad inputs tried {tried}, tracebacks {tracebacks}, files lost {lost}** "
            f"({len(outcomes)} commands, {len(failed)} not as promised"
            + (f": {', '.join(failed)}" if failed else "")
            + (f"; skipped here: {', '.join(skipped)}" if skipped else "")
            + ")",
            "",
            table(
                ["case", "inputs", "exit", "traceback", "files changed", "check", "message (stderr)"], rows
            ),
        ]
    )
    if args.no_write:
        print(body)
    else:
        write_section("bad-inputs", body)
    return 0 if not failed and not tracebacks and not lost else 1


if __name__ == "__main__":
    raise SystemExit(main())
