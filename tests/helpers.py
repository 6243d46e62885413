"""Builders of small on-disk datasets for tests: good images, and a folder of planted bad files."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def draw_numeral(label: str, *, size: int = 40, seed: int = 0) -> np.ndarray:
    """A crude grayscale (H, W) numeral: one vertical bar per 'i', a chevron per 'v', a cross per 'x'."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 255, np.uint8)
    glyphs = max(1, len(label))
    w = size // (glyphs + 1)
    off = int(rng.integers(0, 3))
    for g, ch in enumerate(label):
        x = (g + 1) * w - w // 2 + off
        if ch == "i":
            img[6 : size - 6, x : x + 2] = 0
        elif ch == "v":
            for y in range(6, size - 6):
                dx = (size - 6 - y) * w // (2 * size)
                img[y, max(0, x - dx) : max(0, x - dx) + 2] = 0
                img[y, min(size - 2, x + dx) : min(size - 2, x + dx) + 2] = 0
        else:  # x
            for y in range(6, size - 6):
                dx = (y - size // 2) * w // size
                img[y, max(0, x + dx) : max(0, x + dx) + 2] = 0
                img[y, max(0, x - dx) : max(0, x - dx) + 2] = 0
    return img


def save_png(pixels: np.ndarray, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **kw)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header declaring ``width x height`` 1-bit pixels over a few hundred bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def make_good(
    root: Path, *, classes=("i", "ii", "v"), per_class: int = 3, split: str | None = None
) -> list[Path]:
    out = []
    for c in classes:
        for k in range(per_class):
            folder = root / split / c if split else root / c
            out.append(save_png(draw_numeral(c, seed=k), folder / f"{c}_{k}.png"))
    return out


def make_bad_folder(root: Path) -> dict[str, str]:
    """Good images plus one of each planted problem in ``root/<class>/``.
    Returns ``{file name: expected outcome}`` where the outcome is a quarantine-reason or note fragment."""
    make_good(root)
    d = root / "ii"
    good = io.BytesIO()
    Image.fromarray(draw_numeral("ii")).save(good, format="PNG")
    data = good.getvalue()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    (d / "text.png").write_text("this is not an image\n")
    (d / "empty.png").write_bytes(b"")
    (d / "bomb.png").write_bytes(bomb_png())
    os.symlink(d / "does-not-exist.png", d / "dangling.png")
    sixteen = draw_numeral("ii").astype(np.uint16) * 257
    Image.fromarray(sixteen.astype("<u2")).save(d / "sixteen.png")  # uint16 → mode I;16
    rgb = np.repeat(draw_numeral("ii")[..., None], 3, axis=2)
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg", quality=95)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(d / "rgba.png")
    Image.fromarray(rgb).convert("P").save(d / "palette.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(d / "rotated.jpg", exif=exif.tobytes())
    frames = [Image.fromarray(draw_numeral("ii", seed=s)) for s in range(3)]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:])
    return {
        "truncated.png": "truncated",
        "text.png": "not an image",
        "empty.png": "zero bytes",
        "bomb.png": "decompression bomb",
        "dangling.png": "broken symlink",
        "sixteen.png": "16-bit",
        "cmyk.jpg": "CMYK",
        "rgba.png": "alpha channel",
        "palette.png": "palette",
        "rotated.jpg": "EXIF orientation 6",
        "animated.gif": "animated (3 frames)",
    }


QUARANTINED = {"truncated.png", "text.png", "empty.png", "bomb.png", "dangling.png"}


def make_review_run(
    root: Path,
    *,
    classes=("i", "ii", "iii", "iv", "v"),
    per_class: int = 6,
    extra_rows: int = 0,
    flag_every: int = 5,
    mislabel_every: int = 2,
) -> dict:
    """A run built without Ray for the review app: ``01-ingest`` (label-book, train and val images, a
    quarantined file, a duplicate pair dedup removed one of), ``02-flags`` (vote columns and a queue of
    planted mislabels, each suggesting its true class). ``extra_rows`` adds rows that reuse the images
    (a large run for timing), every ``flag_every``-th of them queued. Returns ids and the truth."""
    import pyarrow as pa

    from dcai import manifest
    from dcai.review import queue as q
    from dcai.runs import Run, StageOutput

    img_dir = root / "images"
    rows, truth = [], {}
    for c in classes:
        for k in range(per_class):
            path = save_png(draw_numeral(c, seed=k), img_dir / f"{c}_{k}.png")
            split = "label_book" if k == 0 else "val" if k == per_class - 1 else "train"
            rows.append(dict(id=manifest.row_id(str(path)), uri=str(path), source_uri=str(path), label=c,
                             split=split, origin="original", trusted=k == 0))  # fmt: skip
            truth[rows[-1]["id"]] = c
    mislabelled = [r for r in rows if r["split"] == "train"][::mislabel_every]
    for j, r in enumerate(mislabelled):  # planted: given a neighbouring class
        r["label"] = classes[(classes.index(r["label"]) + 1 + j % (len(classes) - 1)) % len(classes)]
    copy = dict(rows[1], id=manifest.row_id(rows[1]["uri"], "copy"), split="train")
    rows.append(copy)
    broken = img_dir / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    rows.append(dict(id=manifest.row_id(str(broken)), uri=str(broken), source_uri=str(broken), label=None,
                     split="quarantine", origin="original", reason="ingest: truncated"))  # fmt: skip
    images = [r for r in rows if r["split"] not in ("quarantine",)]
    for i in range(extra_rows):
        src = images[i % len(images)]
        rows.append(dict(src, id=manifest.row_id("extra", str(i)), split="train", trusted=False))
    table = manifest.from_rows(rows)
    n = table.num_rows
    ids = [r["id"] for r in rows]
    group = [None] * n
    group[1] = group[rows.index(copy)] = "g1"
    run = Run(root / "run")
    run.execute("ingest", lambda t, ctx: StageOutput(table), needs_input=False)

    flagged = np.zeros(n, bool)
    planted = {r["id"] for r in mislabelled}
    given = np.full(n, np.nan)
    top = np.array([r["label"] for r in rows], dtype=object)
    for i, r in enumerate(rows):
        if r["split"] == "quarantine":
            continue
        given[i] = 0.9
        if r["id"] in planted:
            flagged[i], given[i], top[i] = True, 0.05 + 0.01 * i / n, truth[r["id"]]
        elif i >= len(rows) - extra_rows and (i % flag_every == 0):
            flagged[i], given[i] = True, 0.2 + 0.5 * (i % 97) / 97

    def vote(t, ctx):
        t = manifest.with_column(t, "dup_group", pa.array(group, pa.string()))
        t = manifest.set_split(
            t, np.array([i == rows.index(copy) for i in range(n)]), "removed", reason="dedup: duplicate"
        )
        t = manifest.with_column(t, "vote_top_label", pa.array(top.tolist(), pa.string()))
        t = manifest.with_column(t, "vote_given_prob", pa.array(given, pa.float64()))
        t = manifest.with_column(t, "vote_noisy", pa.array(flagged.tolist(), pa.bool_()))
        queue = q.make_queue(
            t, flagged, why="vote: noisy", suggested=top, score=1.0 - np.nan_to_num(given, nan=1.0)
        )
        q.write_queue(queue, ctx.workdir)
        return StageOutput(t, {"queued": queue.num_rows})

    run.execute("flags", vote)  # not "vote": the report would want every vote column
    return {"run": run.root, "ids": ids, "planted": [r["id"] for r in mislabelled], "truth": truth,
            "copy": copy["id"], "broken": rows[-1 - extra_rows]["id"] if not extra_rows else None}  # fmt: skip


def make_ingested_run(run_dir: Path, source: Path, *, val_every: int = 3) -> Path:
    """A run whose ``01-ingest`` lists every image of ``source/<class>/*`` in place, as ingest would, built
    without Ray (for CLI cases that fail before Ray starts, and for export's body)."""
    from dcai import manifest
    from dcai.runs import Run, StageOutput

    rows = []
    for k, f in enumerate(sorted(source.glob("*/*"))):
        split = "val" if k % val_every == 0 else "train"
        rows.append(dict(id=manifest.row_id(str(f)), uri=str(f), source_uri=str(f), label=f.parent.name,
                         split=split, origin="original"))  # fmt: skip
    table = manifest.from_rows(rows)
    layout = {"layout": "class", "source": str(source.resolve())}
    Run(run_dir).execute("ingest", lambda t, ctx: StageOutput(table, layout), needs_input=False)
    return run_dir


def tree_hashes(root: Path) -> dict[str, str]:
    """``{relative path: sha1}`` of every file below ``root`` (symlinks by target name): a before/after
    fingerprint proving a command left a folder alone."""
    import hashlib

    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


HOLD = """  # the body of lock_holder's process
import sys
from pathlib import Path
from dcai import runlock
with runlock.hold(Path(sys.argv[1]), command="dcai vote --run R"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def lock_holder(root: Path) -> subprocess.Popen:
    """Another process holding the run's lock until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc
