"""The review app in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against a real
``dcai review --serve`` process on 127.0.0.1. No browser is downloaded: without ``chromium`` the tests
skip, except under ``CI=true``, where they fail (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dcai.cli import main
from dcai.review import log as rlog
from dcai.review.runfs import RunFS
from dcai.runs import Run
from tests.helpers import make_review_run
from tests.integration.test_s3 import BUCKET, s3_env  # noqa: F401 - the moto S3 server fixture

REVIEWER = "tester"


def _need(what: str) -> None:
    message = f"{what} (apt-get install chromium; pip install -e '.[dev]')"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _need("no chromium found on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe)
        yield b
        b.close()


class Server:
    """``dcai review --serve`` as its own process; ``kill()`` is a SIGKILL, not a clean stop."""

    def __init__(self, run: Path, *, host: str = "127.0.0.1"):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dcai", "review", "--serve", "--run", str(run), "--host", host,
             "--port", "0", "--reviewer", REVIEWER],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines = []
        for line in self.proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("http://"):
                self.url = line.strip()
                break
        else:
            raise RuntimeError("the server printed no URL:\n" + "".join(lines))
        self.base = self.url.split("/queue")[0]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def run_info(tmp_path):
    return make_review_run(tmp_path)


@pytest.fixture
def serve():
    started: list[Server] = []

    def start(run: Path, **kw) -> Server:
        started.append(Server(run, **kw))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.kill()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")


def _press(page, key: str) -> None:
    """Press a key and wait until the page shows another item or another state of this one."""
    before = page.evaluate("document.body.dataset.id + '|' + document.getElementById('current').textContent")
    page.keyboard.press(key)
    page.wait_for_function(
        "b => document.body.dataset.id + '|' + (document.getElementById('current') || {}).textContent !== b",
        arg=before,
    )


def test_ten_decisions_by_keyboard_survive_a_kill_and_apply_exactly(browser, run_info, serve):
    run = run_info["run"]
    truth, planted = run_info["truth"], run_info["planted"]
    server = serve(run)
    page = browser.new_page()
    _open(page, server.url)
    keys = json.loads(page.evaluate("fetch('/api/state').then(r => r.text())"))["keys"]
    expected: dict[str, str] = {}
    seen = []
    while len(expected) < 10:
        rid = page.evaluate("document.body.dataset.id")
        assert rid in planted and rid not in seen  # the planted mislabels lead the queue (largest doubt)
        seen.append(rid)
        k = len(seen)
        if k == 2:
            _press(page, "d")
            expected[rid] = "remove"
        elif k == 4:  # keep, then undo: back on this image, undecided again; then the right label
            _press(page, "k")
            _press(page, "u")
            assert page.evaluate("document.body.dataset.id") == rid
            assert page.inner_text("#current") == "undecided"
            _press(page, keys[truth[rid]])
            expected[rid] = f"relabel:{truth[rid]}"
        else:
            _press(page, keys[truth[rid]])
            expected[rid] = f"relabel:{truth[rid]}"
    assert page.inner_text("#done") == "10"
    assert "items/min" in page.inner_text("#rate")
    last = seen[-1]
    page.reload()  # the tab's undo steps outlive a reload
    page.wait_for_selector("body[data-ready='1']")
    _press(page, "u")
    assert page.evaluate("document.body.dataset.id") == last and page.inner_text("#current") == "undecided"
    _press(page, keys[truth[last]])
    assert page.inner_text("#done") == "10"

    server.kill()  # mid-session, no clean shutdown
    again = serve(run)
    page = browser.new_page()
    _open(page, again.url)
    assert page.inner_text("#done") == "10" and page.inner_text("#left") == "2"
    _open(page, f"{again.url}?id={run_info['broken']}")  # a quarantined file: its reason, not an image
    assert "quarantined: ingest: truncated" in page.inner_text("#quarantine")
    decided = {rid: e["decision"] for rid, e in rlog.fold(rlog.read_log(RunFS(run))).items()}
    assert decided == expected
    again.kill()

    before = Run(run).manifest("flags").to_pylist()
    assert main(["review", "--apply", "--run", str(run)]) == 0
    after = Run(run).manifest().to_pylist()
    assert [r["id"] for r in after] == [r["id"] for r in before]
    changed = {}
    for b, a in zip(before, after):
        if (b["label"], b["split"]) != (a["label"], a["split"]):
            changed[a["id"]] = (a["label"], a["split"], a["reason"])
    assert changed == {
        rid: (truth[rid], "train", f"review: {REVIEWER} relabel")
        if d.startswith("relabel")
        else (next(b["label"] for b in before if b["id"] == rid), "removed", f"review: {REVIEWER} remove")
        for rid, d in expected.items()
    }


def test_two_tabs_on_one_queue_neither_lose_nor_double(browser, run_info, serve):
    server = serve(run_info["run"])
    a, b = browser.new_page(), browser.new_page()
    _open(a, server.url)
    _open(b, server.url)
    first = a.evaluate("document.body.dataset.id")
    assert b.evaluate("document.body.dataset.id") == first  # both start on the same item
    _press(a, "k")  # a keeps it
    _press(b, "d")  # b, still on it, removes it: the later decision stands
    for _ in range(3):
        _press(a, "k")
        _press(b, "k")
    lines = RunFS(run_info["run"]).read_text(rlog.LOG).splitlines()
    assert len(lines) == 8 and len({json.loads(x)["key"] for x in lines}) == 8
    current = rlog.fold(json.loads(x) for x in lines)
    assert current[first]["decision"] == "remove"
    fresh = browser.new_page()
    _open(fresh, server.url)
    assert int(fresh.inner_text("#done")) == len(current)


@pytest.mark.slow  # UMAP's first fit compiles its numba code
def test_the_map_draws_and_a_click_opens_that_image(browser, run_info, serve):
    from dcai.review.mapping import build_map

    build_map(RunFS(run_info["run"]))
    server = serve(run_info["run"])
    page = browser.new_page()
    _open(page, server.base + "/map")
    pts = page.evaluate("window.dcaiMap.pts.map(p => [p.id, p.sx, p.sy])")
    assert len(pts) == len(run_info["ids"]) - 1
    xy = np.array([[p[1], p[2]] for p in pts])
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    target = int(gaps.min(1).argmax())  # the point farthest from its neighbour: a click hits only it
    box = page.locator("canvas").bounding_box()
    x, y = box["x"] + pts[target][1], box["y"] + pts[target][2]
    page.mouse.move(x, y)
    page.wait_for_selector("#tip img")
    assert pts[target][0] in page.get_attribute("#tip img", "src")
    page.mouse.click(x, y)
    page.wait_for_url(f"**/queue?id={pts[target][0]}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.body.dataset.id") == pts[target][0]
    assert page.evaluate("document.getElementById('big').naturalWidth") > 0


def _get(url: str, *, headers: dict | None = None, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def test_a_non_local_bind_refuses_requests_without_the_token(browser, run_info, serve):
    server = serve(run_info["run"], host="127.0.0.2")  # not the default loopback: a token is required
    token = server.url.split("token=")[1]
    assert len(token) >= 24
    for path in ("/queue", "/api/state", "/api/item?pos=0", f"/img/{run_info['planted'][0]}", "/map"):
        status, body = _get(server.base + path)
        assert status == 403 and "token required" in body
    assert _get(server.base + "/api/state", headers={"X-DCAI-Token": "wrong"})[0] == 403
    assert _get(server.base + "/api/state", headers={"X-DCAI-Token": token})[0] == 200
    decide = json.dumps({"key": "k", "id": run_info["planted"][0], "decision": "keep"}).encode()
    status, body = _get(server.base + "/api/decide", headers={"X-DCAI-Token": token}, data=decide)
    assert status == 403 and "CSRF" in body  # a POST without the page's CSRF token
    page = browser.new_page()
    _open(page, server.url)  # the printed URL: the token becomes a cookie and leaves the address bar
    assert "token=" not in page.url
    _press(page, "k")
    assert page.inner_text("#done") == "1"
    stranger = browser.new_context().new_page()
    assert stranger.goto(server.base + "/queue").status == 403


def test_a_path_traversal_id_is_refused(run_info, serve):
    server = serve(run_info["run"])
    for path in ("/img/..%2F..%2Fetc%2Fpasswd", "/img/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/img/../../etc/passwd",
                 "/img/" + "..%5C" * 4 + "windows", "/api/item?id=../../etc/passwd", "/img/nope"):  # fmt: skip
        status, body = _get(server.base + path)
        assert status == 404 and "root:" not in body and "Traceback" not in body, path
    assert _get(server.base + f"/img/{run_info['broken']}")[0] == 404  # quarantined: nothing to show
    assert _get(server.base + f"/img/{run_info['planted'][0]}")[0] == 200
    assert _get(server.base + "/api/state", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding


@pytest.mark.slow
@pytest.mark.usefixtures("s3_env")
def test_a_run_on_object_storage_is_served_and_its_log_kept(run_info, serve):
    """The run folder on S3 (moto's server on 127.0.0.1): index, items and images read through pyarrow.fs;
    the log, which S3 cannot append to, rewritten whole per decision; a killed server loses nothing."""
    from dcai.storage import UriPath

    local = run_info["run"]
    uri = f"s3://{BUCKET}/review/run"
    for p in local.rglob("*"):
        if p.is_file():
            (UriPath(uri) / p.relative_to(local).as_posix()).write_bytes(p.read_bytes())
    server = serve(uri)
    state = json.loads(_get(server.base + "/api/state")[1])
    assert state["total"] == len(run_info["planted"]) + 2
    csrf = _get(server.base + "/queue")[1].split('name="csrf" content="')[1].split('"')[0]
    for k, rid in enumerate(run_info["planted"][:3]):
        body = json.dumps({"key": f"k{k}", "id": rid, "decision": "remove"}).encode()
        assert _get(server.base + "/api/decide", headers={"X-CSRF-Token": csrf}, data=body)[0] == 200
    assert _get(server.base + f"/img/{run_info['planted'][0]}")[0] == 200
    server.kill()
    again = serve(uri)
    assert json.loads(_get(again.base + "/api/state")[1])["done"] == 3
    assert len(rlog.read_log(RunFS(uri))) == 3
