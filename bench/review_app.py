"""The review app: how fast the queue page opens on a 100,000-row run and how long a decision takes,
in Debian's headless chromium against a real ``dcai review --serve``; ``shots`` draws docs/'s screenshots.

    python -m bench.review_app [--rows 100000] [--decisions 200]   # timings -> BENCHMARKS.md "review-app"
    python -m bench.review_app shots                               # docs/review-queue.png, docs/review-map.png

The 100,000 rows are synthetic manifest rows (tests/helpers.py ``make_review_run``: a few dozen drawn
numerals, each reused by many rows, every fifth row queued), so the figures time the app, not a model.
The screenshots come from ``dcai synth`` data through the real ingest, dedup, vote and clean.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench._common import ROOT, command, machine, table, write_section

DOCS = ROOT / "docs"


def start_server(run: Path) -> tuple[subprocess.Popen, str, float]:
    """``dcai review --serve`` on a free port: (process, base URL, seconds until it printed its URL)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcai", "review", "--serve", "--run", str(run), "--port", "0", "--reviewer", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("http://"):
            return proc, line.strip().split("/queue")[0], time.perf_counter() - started
    raise RuntimeError("the server printed no URL")


def browser(p):
    exe = shutil.which("chromium")
    if exe is None:
        sys.exit("bench.review_app: no chromium on PATH (apt-get install chromium)")
    return p.chromium.launch(executable_path=exe)


def ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.1f}"


def p95(values: list[float]) -> str:
    return f"{1000 * sorted(values)[int(0.95 * (len(values) - 1))]:.1f}"


def timings(rows: int, decisions: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.helpers import make_review_run

    work = Path(tempfile.mkdtemp(prefix="review-bench-"))
    try:
        t = time.perf_counter()
        info = make_review_run(work, extra_rows=rows - 32)
        made = time.perf_counter() - t
        run = info["run"]
        t = time.perf_counter()
        from dcai.review import items
        from dcai.review.runfs import RunFS

        meta = items.build(RunFS(run))
        index_s = time.perf_counter() - t
        proc, base, start_s = start_server(run)
        try:
            with sync_playwright() as p:
                b = browser(p)
                b.new_page().goto("about:blank")  # the browser's own start-up is not the page's
                opens = []
                for _ in range(6):  # a new tab each time: page, state, first item and its image
                    page = b.new_page()
                    t = time.perf_counter()
                    page.goto(base + "/queue")
                    page.wait_for_selector("body[data-ready='1']")
                    page.wait_for_function("document.getElementById('big').complete")
                    opens.append(time.perf_counter() - t)
                    page.close()
                page = b.new_page()
                page.goto(base + "/queue")
                page.wait_for_selector("body[data-ready='1']")
                keyed = []
                for _ in range(min(decisions, 50)):  # key press -> the next item on screen
                    before = page.evaluate("document.body.dataset.id")
                    t = time.perf_counter()
                    page.keyboard.press("k")
                    page.wait_for_function("b => document.body.dataset.id !== b", arg=before)
                    keyed.append(time.perf_counter() - t)
                in_page = [v / 1000 for v in page.evaluate("window.dcaiTimings")]
                csrf = page.evaluate("document.querySelector('meta[name=csrf]').content")
                b.close()
            queue = json.loads(urllib.request.urlopen(base + "/api/state").read())
            posts = []
            for k in range(decisions):  # the HTTP round trip alone: POST a decision, GET the next item
                pos = queue["first_open"] + k
                item = json.loads(urllib.request.urlopen(f"{base}/api/item?pos={pos}").read())
                body = json.dumps({"key": f"bench-{k}", "id": item["id"], "decision": "keep"}).encode()
                req = urllib.request.Request(
                    base + "/api/decide",
                    data=body,
                    headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                )
                t = time.perf_counter()
                urllib.request.urlopen(req).read()
                urllib.request.urlopen(f"{base}/api/item?pos={pos + 1}&open=1").read()
                posts.append(time.perf_counter() - t)
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows_out = [
        ["build the run's review index (once per run change)", f"{1000 * index_s:.0f}", "", f"{meta['items']:,} items"],
        ["server start to URL printed", f"{1000 * start_s:.0f}", "", "index up to date"],
        ["queue page opens in a new tab (page, state, item, image)", ms(opens[1:]), p95(opens[1:]),
         f"first open after the server started {1000 * opens[0]:.0f} ms; median of the next {len(opens) - 1}"],
        ["decision round trip: POST decide + GET next item (HTTP)", ms(posts), p95(posts), f"{len(posts)} decisions, fsync'd"],
        ["decision by key in the page: key handled to next item rendered", ms(in_page), p95(in_page),
         f"{len(in_page)} decisions: POST, GET next, draw"],
        ["the same, seen from Playwright (key sent over CDP to next item seen)", ms(keyed), p95(keyed), "adds the driver's own round trips"],
    ]  # fmt: skip
    body = (
        f"A run of {meta['rows']:,} manifest rows ({meta['items']:,} queued), synthetic rows for timing (built in "
        f"{made:.0f} s by `tests/helpers.py` `make_review_run`), the server and headless Debian chromium on "
        f"one machine ({machine()}), other work running beside it. Targets: the queue page under 1 s, a "
        f"decision round trip under 50 ms.\n\n"
        + table(["step", "median ms", "p95 ms", "note"], rows_out)
        + f"\n\n`{command()}`"
    )
    print(body)
    write_section("review-app", body)


def sh(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dcai", *args], check=True, stdout=subprocess.DEVNULL)


def shots(n: int) -> None:
    """Screenshots of the queue and the map on `dcai synth` data through ingest, dedup, vote and clean."""
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="review-shots-"))
    run = work / "run"
    try:
        sh("synth", str(work / "synth"), "--n", str(n))
        sh("ingest", str(work / "synth" / "data"), "--run", str(run))
        sh("dedup", "--run", str(run))
        sh("vote", "--run", str(run), "--set", "members=[lenet5,alexnet]", "--set", "widths=[1.0,0.25]",
           "--set", "folds=3", "--set", "epochs=8", "--set", "augment=none", "--set", "image_size=32")  # fmt: skip
        sh("clean", "--run", str(run))
        sh("review", "--map", "--run", str(run))
        proc, base, _ = start_server(run)
        DOCS.mkdir(exist_ok=True)
        try:
            with sync_playwright() as p:
                b = browser(p)
                page = b.new_page(viewport={"width": 1200, "height": 760})
                page.goto(base + "/queue?reason=vote: noisy")
                page.wait_for_selector("body[data-ready='1']")
                for key in "kkk":  # a few decisions, so the counter and the throughput show
                    before = page.evaluate("document.body.dataset.id")
                    page.keyboard.press(key)
                    page.wait_for_function("b => document.body.dataset.id !== b", arg=before)
                    page.wait_for_timeout(400)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(DOCS / "review-queue.png"))
                page.goto(base + "/map")
                page.wait_for_selector("body[data-ready='1']")
                pts = page.evaluate("window.dcaiMap.pts.filter(p => p.flagged).map(p => [p.sx, p.sy])")
                box = page.locator("canvas").bounding_box()
                page.mouse.move(box["x"] + pts[0][0], box["y"] + pts[0][1])  # the hover preview
                page.wait_for_selector("#tip img")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(DOCS / "review-map.png"))
                b.close()
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {DOCS / 'review-queue.png'} and {DOCS / 'review-map.png'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.review_app", description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="timings", choices=["timings", "shots"])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--n", type=int, default=600, help="shots: synthetic images to draw")
    args = ap.parse_args(argv)
    if args.what == "shots":
        shots(args.n)
    else:
        timings(args.rows, args.decisions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
