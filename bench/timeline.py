"""Benchmark: the admin timeline of a patient with three years of data.

    .venv/bin/python -m bench.timeline [--runs 30] [--no-gunicorn]

The database is ``$BENCH_TIMELINE_DATABASE_URL``, by default
postgres://postgres@127.0.0.1:5432/realign_bench_timeline (dropped and created anew).

Creates (drops first) its own database, migrates it, bulk-inserts one patient's three years
(~3,000 pain logs, ~150 PT sessions, ~40 appointments, ~30 restrictions, ~30 milestones), then
renders the timeline page for the surgeon:
- through Django's test client (server time only), counting queries;
- through gunicorn over HTTP on 127.0.0.1 (what a browser waits for, minus the network).
Prints medians; results go to docs/benchmarks.md under "## Timeline".
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/realign_bench_timeline"
PASSWORD = "bench-Password-123"  # noqa: S105 - a throwaway account in a throwaway database
DAYS = 3 * 365


def recreate_database(url: str) -> None:
    import psycopg

    match = re.match(r"postgres(?:ql)?://[^/]+/(?P<name>[A-Za-z0-9_]+)$", url)
    if not match:
        sys.exit(f"need a postgres://.../<dbname> URL, not {url}")
    name = match["name"]
    admin_url = url[: url.rfind("/")] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"  # as in production: no query log, cached templates
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(days: int = DAYS, seed_value: int = 3, tag: str = ""):
    """One clinic, one surgeon, one patient; ``days`` of record, bulk-inserted."""
    from django.utils import timezone

    from accounts import services as accounts
    from recovery.models import (
        ActivityRestriction,
        Appointment,
        HospitalStay,
        Milestone,
        PainLog,
        PTSession,
        Surgery,
    )

    rng = random.Random(seed_value)
    clinic = accounts.clinic_create(name=f"Bench clinic{tag}", time_zone="America/New_York")
    surgeon = accounts.staff_create(
        clinic=clinic,
        email=f"bench-surgeon{tag}@example.test",
        role="surgeon",
        password=PASSWORD,
        first_name="Bench",
        last_name="Surgeon",
    )
    patient = accounts.patient_create(
        clinic=clinic,
        email=f"bench-patient{tag}@example.test",
        first_name="Bench",
        last_name="Patient",
        date_of_birth=date(1968, 4, 2),
        time_zone="America/New_York",
        mrn=f"BENCH-1{tag}",
        surgeon=surgeon,
    )
    tz = patient.tz
    today = timezone.localdate(timezone=tz)
    first = today - timedelta(days=days)

    def at(day, hour):
        return datetime.combine(day, dtime(hour), tzinfo=tz)

    common = {"patient": patient, "created_by": surgeon}
    prior = Surgery.objects.create(
        performed_on=first - timedelta(days=900),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        **common,
    )
    surgery = Surgery.objects.create(
        performed_on=first,
        region="lumbar",
        levels="L4-L5-S1",
        procedure="hardware_revision",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        prior_surgery=prior,
        surgeon=surgeon,
        **common,
    )
    HospitalStay.objects.create(
        surgery=surgery,
        admitted_at=at(first, 7),
        discharged_at=at(first + timedelta(days=4), 11),
        discharge_disposition="home",
        **common,
    )
    pain, pt, appts, restrictions, milestones = [], [], [], [], []
    now = timezone.now()
    for i in range(days):
        day = first + timedelta(days=i)
        for hour, location in ((8, "back"), (14, "leg"), (21, "back")):
            if at(day, hour) < now and rng.random() < 0.92:
                pain.append(
                    PainLog(
                        recorded_at=at(day, hour),
                        intensity=max(0, min(10, int(rng.gauss(5, 2)))),
                        location=location,
                        medication_taken=rng.random() < 0.3,
                        patient=patient,
                        created_by=patient.user,
                    )
                )
        if i % 7 == 2:
            pt.append(
                PTSession(
                    scheduled_for=at(day, 10),
                    performed_at=at(day, 10),
                    status="completed",
                    duration_minutes=45,
                    pain_before=5,
                    pain_after=3,
                    exercises=[{"name": "bridges", "sets": 3, "reps": 10}],
                    **common,
                )
            )
        if i % 27 == 4:
            appts.append(
                Appointment(
                    starts_at=at(day, 9),
                    purpose="follow_up",
                    status="completed",
                    clinician=surgeon,
                    **common,
                )
            )
        if i % 36 == 1:
            restrictions.append(
                ActivityRestriction(
                    activity=rng.choice(["lifting", "bending", "driving"]),
                    starts_on=day,
                    ends_on=day + timedelta(days=30),
                    **common,
                )
            )
            milestones.append(
                Milestone(
                    title=f"Milestone {i}",
                    kind="other",
                    target_on=day + timedelta(days=20),
                    achieved_on=day + timedelta(days=rng.randint(10, 25)),
                    **common,
                )
            )
    PainLog.objects.bulk_create(pain, batch_size=1000)
    PTSession.objects.bulk_create(pt)
    Appointment.objects.bulk_create(appts)
    ActivityRestriction.objects.bulk_create(restrictions)
    Milestone.objects.bulk_create(milestones)
    sizes = {
        "pain_logs": len(pain),
        "pt_sessions": len(pt),
        "appointments": len(appts),
        "restrictions": len(restrictions),
        "milestones": len(milestones),
    }
    return surgeon, patient, sizes


def bench_test_client(surgeon, patient, runs: int, query: dict) -> tuple[float, int]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(surgeon)
    path = f"/admin/accounts/patientprofile/{patient.pk}/timeline/"
    for _ in range(3):
        assert client.get(path, query).status_code == 200
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        client.get(path, query)
    queries = len(ctx.captured_queries)  # read now: the next request resets the log
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, query)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(times), queries


def bench_gunicorn(url: str, patient_pk: int, runs: int, query: dict, port: int = 8765) -> float:
    import requests

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            "config.wsgi",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        session = requests.Session()
        login = session.get(f"{base}/admin/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
        done = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "username": "bench-surgeon@example.test",
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{base}/admin/login/"},
            timeout=10,
        )
        assert done.url.endswith("/admin/"), "login failed"
        page = f"{base}/admin/accounts/patientprofile/{patient_pk}/timeline/"
        for _ in range(3):
            assert session.get(page, params=query, timeout=30).status_code == 200
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            response = session.get(page, params=query, timeout=30)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        return statistics.median(times)
    finally:
        server.terminate()
        server.wait(timeout=20)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_TIMELINE_DATABASE_URL") or DEFAULT_URL
    recreate_database(url)
    setup_django(url)
    surgeon, patient, sizes = seed()
    print("data:", ", ".join(f"{k} {v}" for k, v in sizes.items()))
    cases = {"default (last 90 days)": {}, "whole record (3 years)": {"period": "all"}}
    print(f"{'case':28} {'test client ms':>15} {'queries':>8} {'gunicorn ms':>12}")
    for name, query in cases.items():
        ms, queries = bench_test_client(surgeon, patient, args.runs, query)
        http = (
            "-" if args.no_gunicorn else f"{bench_gunicorn(url, patient.pk, args.runs, query):.1f}"
        )
        print(f"{name:28} {ms:15.1f} {queries:8d} {http:>12}")
    # A one-month patient: the query count does not depend on the length of the history.
    small_surgeon, small, small_sizes = seed(days=30, tag="-month")
    _, small_queries = bench_test_client(small_surgeon, small, 3, {"period": "all"})
    print(
        f"queries for a patient with one month ({small_sizes['pain_logs']} pain logs): "
        f"{small_queries}"
    )


if __name__ == "__main__":
    main()
