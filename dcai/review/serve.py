"""``dcai review --serve``: build the run's review index, bind, print the URL, serve until stopped.

Binds 127.0.0.1 by default, where only a Host-header check guards it. Any other address gets a token,
generated here and printed in the URL, that every request must carry (a cookie after the first visit).
"""

from __future__ import annotations

import getpass
import secrets
import socket

from dcai.errors import InputError
from dcai.review import items as ix
from dcai.review.runfs import RunFS
from dcai.review.server import create_app

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    """Only the default loopback names bind without a token; any other address, 127.0.0.2 included, needs one."""
    return host in LOOPBACK_NAMES


def serve(run_uri: str, *, host: str = "127.0.0.1", port: int = 8765, reviewer: str | None = None) -> None:
    """Serve the review app for ``run_uri`` (any pyarrow.fs URI) until interrupted."""
    import uvicorn

    run = RunFS(run_uri)
    meta = ix.build(run)
    local = is_loopback(host)
    token = None if local else secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without it a response's headers and body, written apart, wait
    # for the browser's delayed ACK (40 ms a request on a kept-alive connection)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        raise InputError(f"cannot bind {host}:{port} ({e.strerror})") from e
    sock.listen(128)  # connections made as soon as the URL is printed wait for the server to start
    port = sock.getsockname()[1]
    app = create_app(
        run,
        reviewer=reviewer or getpass.getuser(),
        token=token,
        csrf=secrets.token_urlsafe(24),
        hosts=LOOPBACK_NAMES | {host} if local else None,
        port=port,
    )
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/queue" + (f"?token={token}" if token else "")
    print(
        f"review app for {run.uri}: {meta['items']} item(s) to review, {len(meta['classes'])} classes",
        flush=True,
    )
    print(url, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.app.state.log.close()
