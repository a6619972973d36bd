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
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk", type=int, default=None, help="REMINDERS_DELIVERY_CHUNK")
    args = parser.parse_args()
    url = setup_django()

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
                        patient=patient, kind="appointment", cause_type="bench", cause_id=str(i),
                        title="Bench", channel="inbox", step={"key": "x", "minutes": -60},
                        due_at=now, available_at=now, dedup_key=f"bench:{i}:x:inbox",
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
                [sys.executable, "-m", "celery", "--app", "config", "worker", "--loglevel",
                 "WARNING", "--concurrency", str(concurrency), "--without-gossip",
                 "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=env, start_new_session=True,
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
                    lambda: not Reminder.objects.filter(
                        cause_type="bench", status__in=["pending", "claimed"]
                    ).exists(),
                    timeout=900, interval=0.05, what="all bench reminders",
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

    print(f"\nchunk={args.chunk or settings.REMINDERS_DELIVERY_CHUNK}, "
          f"batch={settings.REMINDERS_DISPATCH_BATCH}")
    print("| worker processes (--concurrency) | reminders | seconds | reminders/s |")
    print("|---|---|---|---|")
    for concurrency, count, elapsed, rate in results:
        print(f"| {concurrency} | {count} | {elapsed:.1f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
