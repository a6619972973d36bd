"""Benchmark: upload of a 5 MB wound photo over HTTP (gunicorn + PostgreSQL).

    python -m bench photo-upload [--rounds 10] [--storage filesystem|s3]

Seeds a bench database of its own (``realign_bench_photo_upload``, dropped and recreated) with
one patient through the real services, makes a 5 MB JPEG (camera-like noise, which JPEG cannot
shrink, with EXIF GPS), starts the app under gunicorn (one sync worker) and times
``POST /api/v1/wound-photos/`` (multipart) with a new client id per round: the whole path, i.e.
parsing the multipart body, Pillow's checks, the re-encode without metadata, storing, the row.
``--storage s3`` stores through django-storages into a bucket of moto's S3 server started here
(a real S3 API over HTTP on localhost, so it measures the protocol, not a network). Then times
the thumbnail (the Celery task's service, in process) on the stored photo. Prints the medians
as a markdown table (docs/benchmarks.md, ``## Wound photos``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from io import BytesIO
from pathlib import Path

from . import harness

BENCH_DB = "realign_bench_photo_upload"
NAME = "photo-upload"
TARGET_BYTES = 5 * 1024 * 1024
BUCKET = "bench-wound-photos"


def five_megabyte_jpeg() -> bytes:
    """A JPEG of about 5 MB: random pixels (no JPEG can shrink them), with a GPS EXIF block."""
    from PIL import Image

    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    width = 1600
    while True:
        height = width * 3 // 4
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        out = BytesIO()
        image.save(out, format="JPEG", quality=90, exif=exif)
        data = out.getvalue()
        if len(data) >= TARGET_BYTES * 0.98:
            return data
        width = int(width * (TARGET_BYTES / len(data)) ** 0.5) + 16


def seed():
    from django.utils import timezone

    from accounts import services as accounts

    clinic = accounts.clinic_create(name="Bench clinic")
    surgeon = accounts.staff_create(clinic=clinic, email="surgeon@bench.test", role="surgeon")
    return accounts.patient_create(
        clinic=clinic,
        email="patient@bench.test",
        first_name="Bench",
        last_name="Patient",
        date_of_birth=timezone.localdate().replace(year=1970),
        time_zone="America/New_York",
        surgeon=surgeon,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=10, help="uploads (after one warm-up)")
    parser.add_argument("--storage", choices=["filesystem", "s3"], default="filesystem")


def _storage_env(storage: str, var_dir: Path, stack) -> dict:
    if storage == "filesystem":
        return {"WOUND_PHOTO_STORAGE": "filesystem"}
    import boto3
    from moto.server import ThreadedMotoServer

    port = harness.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stack.callback(server.stop)
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(
        Bucket=BUCKET
    )
    return {
        "WOUND_PHOTO_STORAGE": "s3",
        "WOUND_PHOTO_S3_BUCKET": BUCKET,
        "WOUND_PHOTO_S3_ENDPOINT_URL": endpoint,
        "WOUND_PHOTO_S3_ACCESS_KEY_ID": keys["aws_access_key_id"],
        "WOUND_PHOTO_S3_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
        "WOUND_PHOTO_S3_REGION": "us-east-1",
    }


def run(args) -> dict:
    from contextlib import ExitStack

    import requests

    with ExitStack() as stack:
        var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-photos-")))
        storage_env = _storage_env(args.storage, var_dir, stack)
        # The bench process reads the same storage as the server (the thumbnail step).
        os.environ.update({**storage_env, "REALIGN_VAR_DIR": str(var_dir)})
        url = harness.database_url(BENCH_DB)
        harness.recreate_database(url)
        harness.django_setup(url)
        patient = seed()
        photo = five_megabyte_jpeg()

        from accounts.tokens import tokens_for
        from recovery.photos.models import WoundPhoto
        from recovery.photos.services import wound_photo_thumbnail_store

        env = {
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "false",
            "GUNICORN_CMD_ARGS": "--timeout 600",
            "CELERY_BROKER_URL": "memory://",  # the thumbnail is timed below, not by a worker
            **storage_env,
            "REALIGN_VAR_DIR": str(var_dir),
        }
        with harness.Gunicorn("config.wsgi:application", env=env, ready_path="/healthz") as server:
            session = requests.Session()
            headers = {"Authorization": f"Bearer {tokens_for(patient.user)['access']}"}
            samples = []
            for attempt in range(args.rounds + 1):  # the first upload warms up
                started = time.perf_counter()
                response = session.post(
                    f"{server.url}/api/v1/wound-photos/",
                    files={"image": ("wound.jpg", photo, "image/jpeg")},
                    data={"id": f"bench-{attempt}", "note": "day 5"},
                    headers=headers,
                    timeout=300,
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(f"upload answered {response.status_code}: {response.text}")
                if attempt:
                    samples.append(elapsed)
        thumbs = []
        for attempt in range(1, min(args.rounds, 5) + 1):
            started = time.perf_counter()
            wound_photo_thumbnail_store(photo_id=f"bench-{attempt}")
            thumbs.append(time.perf_counter() - started)
        stored = WoundPhoto.objects.get(pk="bench-1")
        return {
            "upload": {**harness.summary(samples), "rounds": len(samples)},
            "thumbnail": {**harness.summary(thumbs), "rounds": len(thumbs)},
            "upload_bytes": len(photo),
            "stored_bytes": stored.byte_size,
            "pixels": f"{stored.width}x{stored.height}",
            "storage": args.storage,
        }


def report(result: dict, args=None) -> str:
    mb = result["upload_bytes"] / 1024 / 1024
    lines = [
        (
            f"Photo: {mb:.1f} MB JPEG, {result['pixels']} pixels; stored "
            f"{result['stored_bytes'] / 1024 / 1024:.1f} MB after the re-encode; "
            f"storage: {result['storage']}."
        ),
        "",
        "| step | rounds | median | p90 |",
        "|---|---|---|---|",
    ]
    for step, label in (("upload", "POST /api/v1/wound-photos/"), ("thumbnail", "thumbnail")):
        r = result[step]
        lines.append(
            f"| {label} | {r['rounds']} | {r['median_ms']:.0f} ms | {r['p90_ms']:.0f} ms |"
        )
    return "\n".join(lines)
