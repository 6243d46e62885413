"""Images → one ``(N, size, size, 3)`` array for the engine, decoded once and cached by content hash.

Decoding a 1,000-pixel PNG takes milliseconds and every evaluation needs the same few thousand
images, so resized pixels are kept in ``<cache_dir>/rgb<size>-v1.npz`` keyed by the file's content
hash: a later evaluation of any subset, in any order, decodes only the images it has not seen.
Pixels are stored as float32 because the official resize does not round (see
:mod:`dcai.models.inputs`); at 32×32 that is 12 KiB per image.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from dcai import imaging
from dcai.models import inputs

CACHE_VERSION = "v1"  # bump when the decode or resize changes, so stale pixels are never reused


def content_hash(uri: str) -> str:
    """sha1 of the file's bytes, the same hash ingest stores in the manifest's ``content_hash``."""
    return hashlib.sha1(imaging.read_bytes(uri)).hexdigest()


def _cache_file(cache_dir: Path, size: int, method: str = "tf") -> Path:
    how = "" if method == "tf" else f"-{method}"  # the official resize keeps the cache's first name
    return cache_dir / f"rgb{size}{how}-{CACHE_VERSION}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        with np.load(path) as z:
            return dict(zip(z["keys"].tolist(), z["pixels"]))
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is only a cache: decode again


def _write_cache(path: Path, entries: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        keys = list(entries)
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.array(keys), pixels=np.stack([entries[k] for k in keys]))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_images(
    uris: Sequence[str],
    *,
    hashes: Sequence[str | None] | None = None,
    size: int = inputs.SIZE,
    method: str = "tf",
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Decode and resize ``uris`` → ``(N, size, size, 3)`` float32 in [0, 255], in the given order.

    ``method``: how to resize, see :data:`dcai.models.inputs.RESIZE_METHODS` (each has its own cache file).
    ``hashes`` (the manifest's ``content_hash``) are the cache keys; a missing one is computed from
    the file. Without ``cache_dir`` nothing is cached.
    """
    n = len(uris)
    keys = list(hashes) if hashes is not None else [None] * n
    if len(keys) != n:
        raise ValueError(f"{len(keys)} hashes for {n} uris")
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    if cache_dir is None:
        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(lambda u: inputs.load(u, size, method), uris))
        return np.stack(out) if out else np.zeros((0, size, size, 3), np.float32)
    with ThreadPoolExecutor(workers) as pool:
        found: list[str] = list(pool.map(lambda i: keys[i] or content_hash(uris[i]), range(n)))
    path = _cache_file(Path(cache_dir), size, method)
    cache = _read_cache(path)
    todo = sorted({k: i for i, k in enumerate(found) if k not in cache}.values())
    if todo:
        with ThreadPoolExecutor(workers) as pool:
            for i, px in zip(todo, pool.map(lambda i: inputs.load(uris[i], size, method), todo)):
                cache[found[i]] = px
        _write_cache(path, cache)
    return np.stack([cache[k] for k in found]) if found else np.zeros((0, size, size, 3), np.float32)
