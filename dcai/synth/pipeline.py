"""``dcai synth``: plan in the driver, draw and write chunks of images in Ray Data, then ``truth.csv``.

:func:`render_chunk` is the pure per-chunk function (plan rows in, truth rows out, files written);
:func:`run` maps it over Ray Data, or calls it in a loop with ``use_ray=False``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dcai.errors import InputError
from dcai.synth import plan as plan_mod
from dcai.synth.config import NEAR_TRANSFORMS, SynthConfig
from dcai.synth.plant import draw_blank, draw_off_class, draw_scribble, near_duplicate
from dcai.synth.render import CLASSES, Dice, Writer, draw_numeral, encode_png, writer_style

TRUTH_COLUMNS = (
    "path",
    "split",
    "given_label",
    "true_label",
    "problem",
    "duplicate_of",
    "transform",
    "writer",
)
DRAW, TRANSFORM = 0, 1  # Dice streams: the drawing (keyed by the source row), the planted change (own row)


def file_stem(seed: int, index: int) -> str:
    """A file name that says nothing about the image's problem: a hash of ``(seed, row)``."""
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).hexdigest()


def rel_dir(split: int, label: int) -> str:
    """``data/<split>/<class>`` for train, val and label_book; ``test/<class>`` for the held-out set."""
    name = plan_mod.SPLITS[split]
    return f"test/{CLASSES[label]}" if split == plan_mod.TEST else f"data/{name}/{CLASSES[label]}"


def _write(path: str, data: bytes) -> None:
    """os.open/os.write: a third of the Python overhead of open(); creating files is the bottleneck."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _draw_source(
    label: int, writer: Writer, seed: int, source: int, sizes: dict, width_delta: int = 0
) -> np.ndarray:
    return draw_numeral(label, writer, Dice(seed, source, DRAW), **sizes, width_delta=width_delta)


def render_chunk(rows: dict[str, np.ndarray], out_dir: str, *, cfg: SynthConfig) -> dict[str, np.ndarray]:
    """Draw and write the files of ``rows`` (a slice of :func:`plan`) under ``out_dir``.

    Returns truth columns (``TRUTH_COLUMNS`` plus ``index`` and ``bytes``), one row per file. Pixels
    depend only on ``(seed, row)``, so any chunking writes the same bytes.
    """
    seed, sizes = cfg.seed, {"size_min": cfg.size_min, "size_max": cfg.size_max}
    out: dict[str, list] = {name: [] for name in (*TRUTH_COLUMNS, "index", "bytes")}
    for i in range(len(rows["index"])):
        index, source, problem = int(rows["index"][i]), int(rows["source"][i]), int(rows["problem"][i])
        split, given, true = int(rows["split"][i]), int(rows["given"][i]), int(rows["true"][i])
        writer_id = int(rows["writer"][i])
        writer = writer_style(seed, writer_id, **sizes)
        suffix, transform, duplicate_of = ".png", "", ""
        if problem in plan_mod.JUNK:
            dice = Dice(seed, index, DRAW)
            if problem == plan_mod.BLANK:
                pixels = draw_blank(writer, dice, **sizes)
            elif problem == plan_mod.SCRIBBLE:
                pixels = draw_scribble(writer, dice, **sizes)
            else:
                pixels, transform = draw_off_class(writer, dice, **sizes)
            data = encode_png(pixels)
        else:
            pixels = _draw_source(true, writer, seed, source, sizes)
            if problem == plan_mod.NEAR:
                redraw = functools.partial(_draw_source, true, writer, seed, source, sizes)
                kind = NEAR_TRANSFORMS[int(rows["transform"][i])]
                data, suffix, transform = near_duplicate(
                    kind, pixels, Dice(seed, index, TRANSFORM), redraw=redraw
                )
            else:
                data = encode_png(pixels)  # an exact duplicate redraws its source: the same bytes
            if problem in (plan_mod.EXACT, plan_mod.NEAR):
                src_dir = rel_dir(int(rows["source_split"][i]), int(rows["source_given"][i]))
                duplicate_of = f"{src_dir}/{file_stem(seed, source)}.png"
        path = f"{rel_dir(split, given)}/{file_stem(seed, index)}{suffix}"
        _write(os.path.join(out_dir, path), data)
        for name, value in zip(
            (*TRUTH_COLUMNS, "index", "bytes"),
            (
                path,
                plan_mod.SPLITS[split],
                CLASSES[given],
                CLASSES[true] if true >= 0 else "",
                plan_mod.PROBLEMS[problem],
                duplicate_of,
                transform,
                f"w{writer_id:05d}",
                index,
                len(data),
            ),
        ):
            out[name].append(value)
    return {
        name: np.asarray(values, dtype=np.int64 if name in ("index", "bytes") else object)
        for name, values in out.items()
    }


def chunks(rows: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    """Consecutive slices of ``size`` rows."""
    total = len(rows["index"])
    return [{k: v[a : a + size] for k, v in rows.items()} for a in range(0, total, size)]


def _render_all_ray(rows: dict[str, np.ndarray], work: Path, cfg: SynthConfig) -> pa.Table:
    import ray

    blocks = [pa.table(c) for c in chunks(rows, cfg.chunk_size)]
    fn = functools.partial(render_chunk, out_dir=str(work), cfg=cfg)
    ds = ray.data.from_arrow(blocks).map_batches(fn, batch_format="numpy", batch_size=None)
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(tables)


def _prepare(out: Path) -> Path:
    """A fresh temp folder next to ``out``; refuses to overwrite a folder that is not synth output."""
    if out.exists() and any(out.iterdir()) and not (out / "synth.json").exists():
        raise InputError(
            f"{out}: exists, is not empty and is not the output of an earlier `dcai synth`; "
            "choose a new or empty folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.synth-*.tmp"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    work = out.parent / f".{out.name}.synth-{os.getpid()}.tmp"
    for split in range(len(plan_mod.SPLITS)):
        for label in range(len(CLASSES)):
            (work / rel_dir(split, label)).mkdir(parents=True, exist_ok=True)
    return work


def _swap_in(work: Path, out: Path) -> None:
    """Replace ``out`` by the complete ``work`` folder: a killed run never leaves half a data set."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run(out_dir: str | os.PathLike, cfg: SynthConfig, *, use_ray: bool = True) -> dict:
    """Write the synthetic data set to ``out_dir``; returns the report, also saved as ``synth.json``.

    ``out_dir`` must be visible to every Ray worker (a local disk on one machine, shared storage on
    a cluster). ``use_ray=False`` draws in this process, for tests and tiny sets.
    """
    started = time.time()
    out = Path(out_dir).resolve()
    work = _prepare(out)
    try:
        rows = plan_mod.plan(cfg)
        planned = time.time()
        if use_ray:
            from dcai.ray_runtime import init_ray

            init_ray()
        ray_ready = time.time()
        if use_ray:
            truth = _render_all_ray(rows, work, cfg)
        else:
            truth = pa.concat_tables(
                [pa.table(render_chunk(c, str(work), cfg=cfg)) for c in chunks(rows, cfg.chunk_size)]
            )
        truth = truth.sort_by("index")
        if truth.num_rows != len(rows["index"]):
            raise RuntimeError(f"synth wrote {truth.num_rows} files for {len(rows['index'])} planned")
        drawn = time.time()
        nbytes = int(pa.compute.sum(truth.column("bytes")).as_py())
        pacsv.write_csv(
            truth.select(list(TRUTH_COLUMNS)),
            work / "truth.csv",
            write_options=pacsv.WriteOptions(quoting_style="needed"),
        )
        seconds = time.time() - started
        report = {
            "images": truth.num_rows,
            "out": str(out),
            "truth": str(out / "truth.csv"),
            "data": str(out / "data"),
            "test": str(out / "test"),
            **plan_mod.summary(rows),
            "bytes": nbytes,
            "seconds": round(seconds, 3),
            "plan_seconds": round(planned - started, 3),
            "ray_start_seconds": round(ray_ready - planned, 3),  # 0 when Ray was already running
            "draw_seconds": round(drawn - ray_ready, 3),
            "images_per_s": round(truth.num_rows / max(seconds, 1e-9), 1),
            "draw_images_per_s": round(truth.num_rows / max(drawn - ray_ready, 1e-9), 1),
            "ray": use_ray,
            "config": cfg.to_dict(),
        }
        for folder in sorted(work.glob("*/*/*")) + sorted(work.glob("*/*")) + sorted(work.glob("*")):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # a class with no image in a split (tiny sets) leaves no empty folder
        (work / "synth.json").write_text(json.dumps(report, indent=2))
        _swap_in(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report
