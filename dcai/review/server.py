"""The review app: a Starlette ASGI app over a run's review index, decision log and embedding map.

Pages: ``/queue`` (keyboard-first review), ``/map`` (the 2-D map). JSON: ``/api/state``, ``/api/item``,
``/api/map``; POST ``/api/decide``, ``/api/undo`` (CSRF header required). Images: ``/img/{id}`` by
manifest id only. :class:`Guard` checks the Host header, the token (on a non-local bind) and CSRF.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from functools import lru_cache
from http.cookies import SimpleCookie
from importlib import resources
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from dcai.review import items as ix
from dcai.review import mapping
from dcai.review.decisions import DecisionError, parse_decision
from dcai.review.log import DecisionLog
from dcai.review.runfs import RunFS

MAX_BODY = 4096
_REVIEWER = re.compile(r"^[\w .@-]{1,40}$")
# keys for relabelling: digits, then letters no command uses (k keep, d remove, s skip, u undo, n/p, j)
CLASS_KEYS = "1234567890qwertyioafghlzxcvbm"


class Queue:
    """The items index: its filter columns in memory (id, label, reasons), an item read from its row group."""

    def __init__(self, run: RunFS):
        self.file = run.parquet(ix.ITEMS)
        t = self.file.read(columns=["id", "label", "whys"])
        self.ids = np.asarray(t.column("id").to_pylist(), dtype=object)
        self.labels = t.column("label")
        self.whys = t.column("whys")
        self.row_of = {rid: i for i, rid in enumerate(self.ids)}
        self.decided = np.zeros(len(self.ids), bool)
        self._views: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()
        self._group = lru_cache(maxsize=32)(self._read_group)

    def view(self, reason: str = "", label: str = "") -> np.ndarray:
        """Item rows that match the filters, in queue order."""
        key = (reason, label)
        if key not in self._views:
            mask = pa.array(np.ones(len(self.ids), bool))
            if reason:
                mask = pc.and_(mask, pc.match_substring(self.whys, f"|{reason}|"))
            if label:
                mask = pc.and_(mask, pc.fill_null(pc.equal(self.labels, label), False))
            self._views[key] = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), bool))
        return self._views[key]

    def _read_group(self, g: int) -> list[dict]:
        with self._lock:
            return self.file.read_row_group(g).to_pylist()

    def row(self, i: int) -> dict:
        return dict(self._group(i // ix.ROW_GROUP)[i % ix.ROW_GROUP])

    def set_decided(self, rid: str, decided: bool) -> None:
        if rid in self.row_of:
            self.decided[self.row_of[rid]] = decided


class Guard:
    """ASGI middleware: Host header check, token (when set) from ``?token=`` / cookie / header, CSRF on POST."""

    def __init__(self, app, *, token: str | None, csrf: str, hosts: set[str] | None, cookie: str):
        self.app, self.token, self.csrf, self.hosts, self.cookie = app, token, csrf, hosts, cookie

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").rsplit(":", 1)[0].strip("[]")
        if self.hosts is not None and host not in self.hosts:
            return await _deny(scope, receive, send, 403, f"host {host!r} refused: open the URL dcai printed")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.token:
            cookies = SimpleCookie(headers.get("cookie", ""))
            given = [query.get("token"), headers.get("x-dcai-token")]
            given.append(cookies[self.cookie].value if self.cookie in cookies else None)
            if not any(g and hmac.compare_digest(g, self.token) for g in given):
                return await _deny(scope, receive, send, 403, "token required: open the URL dcai printed")
            if query.get("token") and scope["method"] == "GET":  # swap the URL's token for a cookie
                rest = urlencode({k: v for k, v in query.items() if k != "token"})
                r = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
                r.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
                return await r(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            if not hmac.compare_digest(headers.get("x-csrf-token", ""), self.csrf):
                return await _deny(scope, receive, send, 403, "missing or wrong CSRF token: reload the page")
        return await self.app(scope, receive, send)


async def _deny(scope, receive, send, status: int, message: str) -> None:
    await JSONResponse({"error": message}, status_code=status)(scope, receive, send)


def _page(name: str, csrf: str) -> str:
    text = resources.files("dcai.review").joinpath(f"static/{name}").read_text()
    return text.replace("{{CSRF}}", csrf)


def _image_response(uri: str) -> Response:
    from dcai import imaging

    data = imaging.read_bytes(uri)
    for magic, kind in ((b"\x89PNG", "png"), (b"\xff\xd8", "jpeg"), (b"GIF8", "gif")):
        if data.startswith(magic):
            return Response(
                data, media_type=f"image/{kind}", headers={"Cache-Control": "private, max-age=3600"}
            )
    pixels = imaging.decode(data).pixels  # any other format the run holds, as PNG
    return Response(imaging.encode_png(pixels), media_type="image/png")


def create_app(
    run: RunFS, *, reviewer: str, token: str | None = None, csrf: str, hosts: set[str] | None, port: int = 0
) -> Guard:
    """The app over ``run``, whose review index is already built (:func:`dcai.review.items.build`)."""
    meta = json.loads(run.read_text(ix.INDEX))
    queue = Queue(run)
    lookup = ix.Lookup(run)
    log = DecisionLog(run)
    for rid in log.decided_ids():
        queue.set_decided(rid, True)
    classes: list[str] = meta["classes"]
    keys = dict(zip(classes, CLASS_KEYS))

    def counts(view: np.ndarray) -> dict:
        done = int(queue.decided[view].sum())
        return {"total": int(len(view)), "done": done, "left": int(len(view)) - done}

    def filters(request: Request) -> tuple[str, str, np.ndarray]:
        reason, label = request.query_params.get("reason", ""), request.query_params.get("label", "")
        return reason, label, queue.view(reason, label)

    def state(request: Request) -> JSONResponse:
        _, _, view = filters(request)
        open_ = np.flatnonzero(~queue.decided[view])
        return JSONResponse({
            **counts(view), "first_open": int(open_[0]) if len(open_) else 0, "classes": classes, "keys": keys,
            "reasons": meta["reasons"], "reviewer": reviewer, "map": run.exists(mapping.MAP),
            "overall": counts(queue.view()),
        })  # fmt: skip

    def item(request: Request) -> JSONResponse:
        reason, label, view = filters(request)
        rid = request.query_params.get("id")
        if rid is not None:
            row = queue.row_of.get(rid)
            at = np.flatnonzero(view == row) if row is not None else np.zeros(0, np.int64)
            if len(at):
                pos = int(at[0])
                out = queue.row(int(view[pos]))
            else:  # an image outside the queue (a click on the map): shown and decided the same way
                hit = lookup.get(rid)
                if hit is None:
                    return JSONResponse({"error": f"no image {rid!r} in this run"}, status_code=404)
                pos = -1
                out = {"id": rid, "kind": "image", "uri": hit[0], "label": hit[1], "suggested": None,
                       "score": None, "why": "not queued", "whys": "|not queued|", "members": None,
                       "evidence": json.dumps({"manifest": {"split": hit[2]}})}  # fmt: skip
        else:
            try:
                pos = int(request.query_params.get("pos", "0"))
            except ValueError:
                return JSONResponse({"error": "pos must be an integer"}, status_code=400)
            if request.query_params.get("open") == "1":  # the first undecided item at or after pos
                later = np.flatnonzero(~queue.decided[view[max(pos, 0) :]])
                pos = max(pos, 0) + int(later[0]) if len(later) else pos
            if not 0 <= pos < len(view):
                return JSONResponse({"error": "no item here", **counts(view), "pos": pos}, status_code=404)
            out = queue.row(int(view[pos]))
        out.pop("uri", None)  # the page asks for images by id only
        sugg = out.get("suggested")
        decision = log.current_of(out["id"])
        return JSONResponse({
            **out, "pos": pos, **counts(view), "whys": out["whys"].strip("|").split("|"),
            "members": json.loads(out["members"]) if out.get("members") else [],
            "evidence": json.loads(out["evidence"] or "{}"),
            "examples": {c: meta["examples"].get(c, []) for c in dict.fromkeys([out.get("label"), sugg]) if c},
            "decision": decision, "reason": reason, "label_filter": label,
        })  # fmt: skip

    async def body(request: Request) -> dict:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise DecisionError("request body too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise DecisionError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise DecisionError("the body must be a JSON object")
        return data

    def who(data: dict) -> str:
        name = str(data.get("reviewer") or reviewer)
        return name if _REVIEWER.match(name) else reviewer

    async def decide(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            rid = str(data.get("id") or "")
            if lookup.get(rid) is None:
                return JSONResponse({"error": f"no image {rid!r} in this run"}, status_code=404)
            decision = str(parse_decision(str(data.get("decision") or ""), classes=classes))
            entry, written = log.record(
                key=str(data.get("key") or ""), reviewer=who(data), image=rid, decision=decision
            )
        except DecisionError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        queue.set_decided(entry["id"], log.current_of(entry["id"]) is not None)
        return JSONResponse({"entry": entry, "written": written, **counts(queue.view())})

    async def undo(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            entry, written = log.record(
                key=str(data.get("key") or ""), reviewer=who(data), undo=str(data.get("undo") or "")
            )
        except DecisionError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        rid = entry["id_undone"]
        queue.set_decided(rid, log.current_of(rid) is not None)
        return JSONResponse({"entry": entry, "written": written, "id": rid, "decision": log.current_of(rid), **counts(queue.view())})  # fmt: skip

    def image(request: Request) -> Response:
        hit = lookup.get(request.path_params["rid"])
        if hit is None:
            return JSONResponse({"error": "no such image"}, status_code=404)
        if hit[2] == "quarantine":  # ingest could not decode it: the page shows the reason instead
            return JSONResponse({"error": "quarantined: the file cannot be decoded"}, status_code=404)
        try:
            return _image_response(hit[0])
        except Exception:  # a quarantined or vanished file: nothing to show, and no trace either
            return JSONResponse({"error": "the image cannot be read"}, status_code=404)

    def map_points(request: Request) -> JSONResponse:
        if not run.exists(mapping.MAP):
            return JSONResponse({"error": "no map yet: run `dcai review --map --run RUN`"}, status_code=404)
        return JSONResponse(mapping.points(run))

    routes = [
        Route("/", lambda r: RedirectResponse("/queue", status_code=303)),
        Route("/queue", lambda r: HTMLResponse(_page("queue.html", csrf))),
        Route("/map", lambda r: HTMLResponse(_page("map.html", csrf))),
        Route("/api/state", state),
        Route("/api/item", item),
        Route("/api/map", map_points),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/img/{rid}", image),
        Route("/favicon.ico", lambda r: Response(status_code=204)),
    ]
    app = Starlette(routes=routes)
    app.state.log = log
    return Guard(app, token=token, csrf=csrf, hosts=hosts, cookie=f"dcai_token_{port}")
