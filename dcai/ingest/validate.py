"""Decode and validate a batch of scanned files; the pure function that ingest maps over Ray Data.

In: records ``uri, label, source_split``. Out: manifest rows. A broken file becomes a
``split="quarantine"`` row whose ``reason`` names the problem; an odd but usable one is converted to
a plain PNG inside the run, with a ``note``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat

import pyarrow as pa

from dcai import imaging, manifest

QUARANTINE_PREFIX = "ingest: "


SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _read(uri: str) -> bytes:
    """File bytes, or :class:`imaging.BadImage` naming why the path cannot be read."""
    if "://" not in uri or uri.startswith("file://"):
        p = uri.removeprefix("file://")
        if os.path.islink(p) and not os.path.exists(p):
            raise imaging.BadImage(f"unreadable path: broken symlink to {os.readlink(p)!r}")
        try:
            kind = SPECIAL.get(stat.S_IFMT(os.stat(p).st_mode))
        except OSError:
            kind = None  # the read below names the problem
        if kind is not None:  # opening a FIFO waits for a writer forever; a device never ends
            raise imaging.BadImage(f"unreadable path: {kind}, not a regular file (skipped)")
    try:
        return imaging.read_bytes(uri)
    except IsADirectoryError:
        raise imaging.BadImage("unreadable path: is a directory") from None
    except PermissionError:
        raise imaging.BadImage("unreadable path: permission denied") from None
    except FileNotFoundError:
        raise imaging.BadImage("unreadable path: file not found") from None
    except OSError as e:
        raise imaging.BadImage(f"unreadable path: {e.strerror or type(e).__name__}") from None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        if "Unrecognized filesystem" in str(e) or isinstance(e, pa.ArrowNotImplementedError):
            raise imaging.BadImage(
                f"unreadable path: unsupported URI scheme {uri.split('://', 1)[0]!r} (local paths and "
                "pyarrow.fs URIs: file://, s3://, gs://, hdfs://)"
            ) from None
        raise imaging.BadImage(
            f"unreadable path: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None
    except pa.ArrowException as e:  # an object store's own error (no such bucket, denied, unreachable)
        raise imaging.BadImage(
            f"unreadable path: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None


_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')


def redact(reason: str) -> str:
    """A reason without any bytes literal a decoder quoted (PIL's "header b'...' not valid"): a reason lands
    in report.json and the HTML report, and must not copy a file's contents there."""
    return _BYTES.sub("<bytes>", reason)


def validate_records(
    records: list[dict],
    *,
    images_dir: str,
    final_images_dir: str,
    max_pixels: int,
    trusted_splits: tuple[str, ...],
) -> pa.Table:
    """Manifest rows for ``records``; writes converted copies to ``images_dir``."""
    rows = []
    for rec in records:
        uri, label, split = rec["uri"], rec["label"], rec["source_split"]
        row = {
            "id": manifest.row_id(uri),
            "uri": uri,
            "source_uri": uri,
            "label": label,
            "split": split,
            "source_split": split,
            "origin": manifest.ORIGINAL,
            "trusted": split in trusted_splits,
        }
        try:
            data = _read(uri)
            row["content_hash"] = hashlib.sha1(data).hexdigest()
            dec = imaging.decode(data, max_pixels=max_pixels)
            row["width"], row["height"] = dec.width, dec.height
            if dec.notes:
                path, _ = imaging.write_png(dec.pixels, images_dir)
                row["uri"] = f"{final_images_dir.rstrip('/')}/{os.path.basename(path)}"
                row["note"] = "; ".join(dec.notes)
        except imaging.BadImage as e:
            row["split"] = manifest.QUARANTINE
            row["reason"] = QUARANTINE_PREFIX + redact(str(e))
        rows.append(row)
    return manifest.from_rows(rows)


def validate_batch(batch: pa.Table, **kwargs) -> pa.Table:
    """``map_batches`` adapter: an Arrow batch of records in, an Arrow batch of manifest rows out."""
    return validate_records(batch.to_pylist(), **kwargs)
