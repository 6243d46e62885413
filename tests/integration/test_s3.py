"""Object storage end to end against a real S3 API server on 127.0.0.1 (moto's server mode): ingest from
``s3://``, the run folder on ``s3://``, export to ``s3://``. The source is uploaded and its local copy
deleted before the run, so nothing can be read from a local copy."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest
from PIL import Image

from dcai import manifest
from dcai.runs import Run
from dcai.storage import UriPath
from tests.helpers import draw_numeral, make_good

pytestmark = pytest.mark.slow
BUCKET = "dcai-test"


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server on a free loopback port; yields the environment that points clients at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",  # read by pyarrow's S3 client (and boto)
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")
    fs.create_dir(BUCKET)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def _upload(local: Path, uri: str) -> int:
    dest = UriPath(uri)
    files = [p for p in local.rglob("*") if p.is_file()]
    for p in files:
        (dest / p.relative_to(local).as_posix()).write_bytes(p.read_bytes())
    return len(files)


def test_ingest_run_and_export_on_s3(s3_env, tmp_path):
    src = tmp_path / "src"
    make_good(src, split="train", per_class=4)
    make_good(src, split="val", per_class=2)
    rgb = np.repeat(draw_numeral("v", seed=9)[..., None], 3, axis=2)
    Image.fromarray(rgb).convert("P").save(src / "train" / "v" / "palette.png")  # converted on ingest
    (src / "train" / "ii" / "broken.png").write_bytes(b"not a png")  # quarantined on ingest
    n_files = _upload(src, f"s3://{BUCKET}/data")
    shutil.rmtree(src)  # from here on the images exist only in the bucket
    config = tmp_path / "s3.yaml"
    config.write_text(
        "stages: [ingest, dedup, balance, split, export]\n"
        "balance: {budget: 100}\nsplit: {n_folds: 2}\nexport: {max_images: 100}\n"
    )
    env = {**os.environ, **s3_env}
    env.pop("RAY_ADDRESS", None)  # the CLI starts its own local Ray, whose workers inherit this env
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcai",
            "pipeline",
            str(config),
            "--input",
            f"s3://{BUCKET}/data",
            "--output",
            f"s3://{BUCKET}/out",
            "--run",
            f"s3://{BUCKET}/runs/r1",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["run"] == f"s3://{BUCKET}/runs/r1"

    run = Run(f"s3://{BUCKET}/runs/r1")
    assert [n for _, n, _ in run.stages()] == ["ingest", "dedup", "balance", "split", "export"]
    ingested = run.manifest("ingest")
    assert ingested.num_rows == n_files
    uris = manifest.column(ingested, "uri").tolist()
    assert all(u.startswith(f"s3://{BUCKET}/") for u in uris)
    converted = [u for u in uris if "/runs/r1/01-ingest/images/" in u]
    assert len(converted) == 1 and UriPath(converted[0]).read_bytes()[:4] == b"\x89PNG"
    assert manifest.counts(ingested)["quarantine"] == {"ii": 1}
    assert (run.stage_dir("dedup") / "report.json").exists()
    assert (UriPath(f"s3://{BUCKET}/runs/r1") / "report.html").exists()

    out = UriPath(f"s3://{BUCKET}/out")
    exported = manifest.read(out / "manifest.parquet")
    meta = json.loads((out / "export.json").read_text())
    files = [
        i
        for i in out.fs.get_file_info(pafs.FileSelector(out.path, recursive=True))
        if i.type == pafs.FileType.File and i.path.endswith(".png")
    ]
    assert len(files) == meta["exported"] > 0
    assert sum(i.size for i in files) == meta["bytes"]
    active = sum(
        n for s, c in manifest.counts(exported).items() if s in ("train", "val", "test") for n in c.values()
    )
    assert active == meta["exported"]
    # nothing of the run or the export was written to the local disk
    assert not (tmp_path / "s3:").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s3.yaml"]
