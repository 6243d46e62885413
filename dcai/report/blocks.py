"""HTML building blocks the page and every stage's section use: a table, an inlined thumbnail."""

from __future__ import annotations

import base64
from html import escape

from dcai import imaging


def thumbnail_img(uri: str, *, size: int = 96) -> str:
    """An ``<img>`` with the image inlined as a PNG thumbnail, or a marker if it cannot be decoded."""
    try:
        png = imaging.thumbnail_png(imaging.load(uri), size)
    except (imaging.BadImage, OSError):
        return '<div class="muted">(no preview)</div>'
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="">'


def html_table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, Markup) else escape(str(c))}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


class Markup(str):
    """A string already escaped (HTML), inserted as is by :func:`html_table`."""
