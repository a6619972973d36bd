"""Benchmark: sync push over HTTP (gunicorn + PostgreSQL), 1, 50 and 1,000 records a push.

    python -m bench sync-push [--rounds 10]

Seeds a bench database of its own (``realign_bench_sync_push``, dropped and recreated) with one
patient (clinic, surgeon, patient through the real services), starts the app under gunicorn
(one sync worker, ``bench/harness.py``) and times ``POST /api/v1/sync/push/`` with pushes of
new pain logs (``created``, as the app sends them: WatermelonDB raw records with ``_status``),
each against a fresh ``last_pulled_at``. Every pushed record goes the whole way: role rules,
validation, triage, reminder planning, clock stamps. Prints the medians as a markdown table
(docs/benchmarks.md, ``## Sync``).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from . import harness

BENCH_DB = "realign_bench_sync_push"
NAME = "sync-push"
SIZES = (1, 50, 1000)


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


def clock_value(patient) -> int:
    from accounts.models import PatientClock

    return PatientClock.objects.get(patient=patient).value


def pain_logs(prefix: str, count: int) -> dict:
    now = datetime.now(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    records = [
        {
            "id": f"{prefix}-{n}",
            "recorded_at": (now - timedelta(minutes=count - n) - epoch)
            // timedelta(milliseconds=1),
            "intensity": n % 8,
            "location": "back",
            "medication_taken": n % 2 == 0,
            "relief": '["ice"]' if n % 3 else "[]",
            "notes": "after the walk" if n % 5 == 0 else "",
            "_status": "created",
            "_changed": "",
        }
        for n in range(count)
    ]
    return {"pain_logs": {"created": records, "updated": [], "deleted": []}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds", type=int, default=10, help="pushes per size (1,000-record pushes: a third)"
    )


def run(args) -> dict:
    import orjson
    import requests

    url = harness.database_url(BENCH_DB)
    harness.recreate_database(url)
    harness.django_setup(url)
    patient = seed()

    from accounts.tokens import tokens_for

    results = {}
    # A slow push must be measured, not killed by gunicorn's 30 s worker timeout.
    env = {"DATABASE_URL": url, "DJANGO_DEBUG": "false", "GUNICORN_CMD_ARGS": "--timeout 600"}
    with harness.Gunicorn(
        "config.wsgi:application", env=env, ready_path="/api/v1/sync/pull/"
    ) as server:
        session = requests.Session()
        headers = {
            "Authorization": f"Bearer {tokens_for(patient.user)['access']}",
            "Content-Type": "application/json",
        }
        for size in SIZES:
            rounds = max(3, args.rounds // 3) if size >= 1000 else args.rounds
            samples = []
            for attempt in range(rounds + 1):  # the first push of each size warms up
                body = orjson.dumps(pain_logs(f"s{size}r{attempt}", size))
                since = clock_value(patient)
                started = time.perf_counter()
                response = session.post(
                    f"{server.url}/api/v1/sync/push/?last_pulled_at={since}",
                    data=body,
                    headers=headers,
                    timeout=300,
                )
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(
                        f"push of {size} answered {response.status_code}: {response.text[:500]}"
                    )
                if attempt:
                    samples.append(elapsed)
            summary = harness.summary(samples)
            results[str(size)] = {
                **summary,
                "records": size,
                "rounds": rounds,
                "per_record_ms": summary["median_ms"] / size,
            }
    return results


def report(result: dict, args=None) -> str:
    lines = ["| push | rounds | median | p90 | per record |", "|---|---|---|---|---|"]
    for r in result.values():
        lines.append(
            f"| {r['records']} pain logs | {r['rounds']} | {r['median_ms']:.0f} ms | {r['p90_ms']:.0f} ms "
            f"| {r['per_record_ms']:.1f} ms |"
        )
    return "\n".join(lines)
