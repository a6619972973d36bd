"""Dispatch throughput: reminders per second through one Celery worker, no-op channel.

    python -m bench.reminders_dispatch [--count 20000] [--concurrency 1 2]

Needs PostgreSQL (``BENCH_DATABASE_URL``, default a ``bench_reminders`` database on localhost)
and ``redis-server`` on the PATH (a throwaway one is started on a free port). For each
concurrency it inserts ``count`` due reminders, starts one worker with the null channel,
publishes one ``reminders.dispatch_due`` and times until every row is sent: claim
(SELECT ... FOR UPDATE SKIP LOCKED in batches), publish, attempt counting, row lock, send,
mark sent - the whole path, minus the provider.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench._reminders_setup import ROOT, bench_patient, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--chunk", type=int, default=None, help="REMINDERS_DELIVERY_CHUNK")
    parser.add_argument(
        "--cpu",
        type=int,
        default=0,
        metavar="N",
        help="instead: deliver N reminders in this process and report CPU time per reminder "
        "(this process + its PostgreSQL backend), which does not depend on other load",
    )
    args = parser.parse_args()
    url = setup_django()
    if args.cpu:
        return cpu_profile(args.cpu)

    from django.utils import timezone

    from reminders.models import Reminder
    from tests.reminders.procs import RedisServer, stop, wait_for

    patient = bench_patient()
    workdir = Path(tempfile.mkdtemp(prefix="realign-bench-"))
    redis_server = RedisServer(workdir)
    redis_server.start()
    results = []
    try:
        for concurrency in args.concurrency:
            Reminder.objects.filter(cause_type="bench").delete()
            now = timezone.now() - timedelta(seconds=1)
            Reminder.objects.bulk_create(
                [
                    Reminder(
                        patient=patient,
                        kind="appointment",
                        cause_type="bench",
                        cause_id=str(i),
                        title="Bench",
                        channel="inbox",
                        step={"key": "x", "minutes": -60},
                        due_at=now,
                        available_at=now,
                        dedup_key=f"bench:{i}:x:inbox",
                    )
                    for i in range(args.count)
                ],
                batch_size=5000,
            )
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "CELERY_BROKER_URL": redis_server.url,
                "REMINDERS_CHANNEL_BACKEND_OVERRIDE": "reminders.channels.testing.NullChannel",
                "REMINDERS_DISPATCH_TIME_BUDGET": "600",
                "LOG_LEVEL": "WARNING",
            }
            if args.chunk:
                env["REMINDERS_DELIVERY_CHUNK"] = str(args.chunk)
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "--app",
                    "config",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=open(workdir / f"worker{concurrency}.log", "ab"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            try:
                time.sleep(4)  # worker boot
                from celery import Celery

                publisher = Celery(broker=redis_server.url)
                started = time.perf_counter()
                publisher.send_task("reminders.dispatch_due", args=[])
                wait_for(
                    lambda: (
                        not Reminder.objects.filter(
                            cause_type="bench", status__in=["pending", "claimed"]
                        ).exists()
                    ),
                    timeout=900,
                    interval=0.05,
                    what="all bench reminders",
                )
                elapsed = time.perf_counter() - started
            finally:
                stop(worker)
            sent = Reminder.objects.filter(cause_type="bench", status="sent").count()
            assert sent == args.count, f"only {sent} of {args.count} sent"
            results.append((concurrency, args.count, elapsed, args.count / elapsed))
    finally:
        redis_server.kill()
        Reminder.objects.filter(cause_type="bench").delete()

    from django.conf import settings

    print(
        f"\nchunk={args.chunk or settings.REMINDERS_DELIVERY_CHUNK}, "
        f"batch={settings.REMINDERS_DISPATCH_BATCH}"
    )
    print("| worker processes (--concurrency) | reminders | seconds | reminders/s |")
    print("|---|---|---|---|")
    for concurrency, count, elapsed, rate in results:
        print(f"| {concurrency} | {count} | {elapsed:.1f} | {rate:,.0f} |")


def _backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_profile(count: int) -> None:
    """CPU cost per reminder of the delivery path (claim + deliver, null channel), measured as
    CPU seconds of this process and of its PostgreSQL backend (same machine, /proc)."""
    os.environ["REMINDERS_CHANNEL_BACKEND_OVERRIDE"] = "reminders.channels.testing.NullChannel"
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from reminders import delivery
    from reminders.channels import reset_channels
    from reminders.models import Reminder

    settings.REMINDERS_CHANNEL_BACKEND_OVERRIDE = "reminders.channels.testing.NullChannel"
    reset_channels()
    patient = bench_patient()
    Reminder.objects.filter(cause_type="benchcpu").delete()
    now = timezone.now() - timedelta(seconds=1)
    Reminder.objects.bulk_create(
        [
            Reminder(
                patient=patient,
                kind="appointment",
                cause_type="benchcpu",
                cause_id=str(i),
                title="Bench",
                channel="inbox",
                step={},
                due_at=now,
                available_at=now,
                dedup_key=f"benchcpu:{i}",
            )
            for i in range(count)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    chunks: list[list[int]] = []
    wall, cpu, pg = time.perf_counter(), time.process_time(), _backend_cpu_seconds(backend)
    delivery.reminders_dispatch_due(enqueue=chunks.append)
    for chunk in chunks:
        delivery.reminders_deliver(reminder_ids=chunk)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    pg = _backend_cpu_seconds(backend) - pg
    sent = Reminder.objects.filter(cause_type="benchcpu", status="sent").count()
    Reminder.objects.filter(cause_type="benchcpu").delete()
    assert sent == count
    per = (cpu + pg) / count * 1000
    print(f"\n{count} reminders in one process: {count / wall:,.0f}/s wall clock")
    print(
        f"CPU per reminder: Python {cpu / count * 1000:.3f} ms + PostgreSQL backend "
        f"{pg / count * 1000:.3f} ms = {per:.3f} ms"
    )
    print(
        f"CPU-bound ceiling on 2 cores: {2000 / per:,.0f} reminders/s "
        "(excluding Celery's per-task overhead and the WAL flush wait)"
    )


if __name__ == "__main__":
    main()
