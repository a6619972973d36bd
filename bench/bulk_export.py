"""Benchmark: FHIR Bulk Data export of a clinic whose patients each have a year of data.

    PYTHONPATH=$PWD .venv/bin/python -m bench bulk-export [--patients 200 1000] [--reuse]

Drops and recreates its own database (``realign_bench_bulk_export``) and seeds one clinic per
size asked (default 200 and 1,000 patients) with ``bulk_create`` (users, profiles and every
table at once, not through the write path: this measures the read side). Each patient gets a
year: one revision surgery and its hospital stay, two pain logs a day, two completed PT
sessions a week, an appointment a month, a weekly check-in, a restriction and a milestone
every six weeks, two medications (about 910 rows).

For each clinic it creates a group-level export job and runs the task's body
(``recovery.fhir.services.bulk_export_run``, what ``recovery.fhir_bulk_export`` calls) in a
fresh Python process of its own, as a worker's pool child does, twice:

- **timed**: wall time, the process's peak resident set (``ru_maxrss``) and its growth over the
  process after Django was set up, and the files written (resources, bytes);
- **heap**: the same export under ``tracemalloc``, whose peak is the most Python memory the
  export held at once (slower; its time is not reported).

Memory is bounded when the 1,000-patient peak is about the 200-patient peak: the job holds
one chunk of patients (``BULK_EXPORT_PATIENT_CHUNK``) and one chunk of a table's rows, and
writes each resource to a file as it is built.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta

from . import harness

NAME = "bulk-export"
DATABASE = "realign_bench_bulk_export"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patients", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--days", type=int, default=365, help="history of each patient")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run")
    parser.add_argument("--no-heap", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--seed-only", action="store_true", help="seed, measure nothing")


# --- seeding ----------------------------------------------------------------------------------


def seed_clinic(size: int, days: int) -> dict:
    """A clinic named for its size with ``size`` patients of ``days`` days each."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Clinic, PatientProfile, Role, User

    name = f"Bench clinic {size}"
    existing = Clinic.objects.filter(name=name).first()
    if existing:
        admin = User.objects.get(email=f"admin-{size}@bench.test")
        return {"clinic": existing.pk, "admin": admin.pk, "rows": None}
    now = timezone.now()
    first = (now - timedelta(days=days)).date()
    rows = 0
    with transaction.atomic():
        clinic = Clinic.objects.create(name=name, time_zone="America/New_York")
        admin = User.objects.create_user(
            email=f"admin-{size}@bench.test",
            role=Role.CLINIC_ADMIN,
            clinic=clinic,
            is_staff=True,
        )
        surgeon = User.objects.create_user(
            email=f"surgeon-{size}@bench.test",
            role=Role.SURGEON,
            clinic=clinic,
            is_staff=True,
            first_name="Sam",
            last_name="Surgeon",
        )
        batch = 50
        for start in range(0, size, batch):
            users = User.objects.bulk_create(
                User(
                    email=f"p{size}-{i}@bench.test",
                    role=Role.PATIENT,
                    clinic=clinic,
                    first_name="Pat",
                    last_name=f"Ient{i}",
                    password="!",  # noqa: S106 - unusable: these patients never sign in
                )
                for i in range(start, min(start + batch, size))
            )
            profiles = PatientProfile.objects.bulk_create(
                PatientProfile(
                    user=user,
                    clinic=clinic,
                    date_of_birth=datetime(1965, 3, 4, tzinfo=UTC).date(),
                    time_zone="America/New_York",
                    mrn=f"B{size}-{user.pk}",
                    surgeon=surgeon,
                )
                for user in users
            )
            rows += _seed_year(profiles, surgeon, first, days, now)
    return {"clinic": clinic.pk, "admin": admin.pk, "rows": rows}


def _seed_year(profiles, surgeon, first, days, now) -> int:
    from zoneinfo import ZoneInfo

    from recovery.care.models import CheckIn
    from recovery.record.models import (
        ActivityRestriction,
        Appointment,
        HospitalStay,
        Medication,
        Milestone,
        PainLog,
        PTSession,
        Surgery,
    )

    tz = ZoneInfo("America/New_York")

    def at(day, hour):
        return datetime.combine(day, time(hour), tzinfo=tz)

    surgeries = Surgery.objects.bulk_create(
        Surgery(
            patient=p,
            created_by=surgeon,
            surgeon=surgeon,
            performed_on=first,
            region="lumbar",
            levels="L4-L5",
            procedure="fusion",
            is_revision=True,
            revision_reasons=["pseudarthrosis"],
        )
        for p in profiles
    )
    tables: dict[type, list] = {
        HospitalStay: [],
        Medication: [],
        PainLog: [],
        PTSession: [],
        Appointment: [],
        ActivityRestriction: [],
        Milestone: [],
        CheckIn: [],
    }
    for p, op in zip(profiles, surgeries, strict=True):
        common = {"patient": p, "created_by": surgeon}
        tables[HospitalStay].append(
            HospitalStay(
                surgery=op,
                admitted_at=at(first, 7),
                discharged_at=at(first + timedelta(days=3), 11),
                discharge_disposition="home",
                **common,
            )
        )
        for name, dose in (("Oxycodone", "5 mg"), ("Gabapentin", "300 mg")):
            tables[Medication].append(Medication(name=name, dose=dose, started_on=first, **common))
        for i in range(days):
            day = first + timedelta(days=i)
            for hour, location in ((8, "back"), (20, "leg")):
                when = at(day, hour)
                if when < now:
                    tables[PainLog].append(
                        PainLog(
                            recorded_at=when,
                            intensity=(i + hour) % 11,
                            location=location,
                            **common,
                        )
                    )
            if i % 7 in (1, 4):
                tables[PTSession].append(
                    PTSession(
                        scheduled_for=at(day, 10),
                        performed_at=at(day, 10),
                        status="completed",
                        duration_minutes=40,
                        exercises=[{"name": "Bridges", "sets": 3, "reps": 10}],
                        pain_before=5,
                        pain_after=3,
                        **common,
                    )
                )
            if i % 30 == 10:
                tables[Appointment].append(
                    Appointment(
                        starts_at=at(day, 9),
                        clinician=surgeon,
                        purpose="follow_up",
                        status="completed",
                        **common,
                    )
                )
            if i % 7 == 6 and at(day, 18) < now:
                tables[CheckIn].append(
                    CheckIn(answered_at=at(day, 18), wound_redness=False, fell=False, **common)
                )
            if i % 42 == 2:
                tables[ActivityRestriction].append(
                    ActivityRestriction(
                        activity="lifting",
                        limit_value=10,
                        limit_unit="lb",
                        starts_on=day,
                        ends_on=day + timedelta(days=30),
                        **common,
                    )
                )
                tables[Milestone].append(
                    Milestone(
                        title=f"Walk {i // 42 + 1} km",
                        kind="other",
                        target_on=day + timedelta(days=20),
                        **common,
                    )
                )
    count = len(surgeries)
    for model, objects in tables.items():
        model.objects.bulk_create(objects, batch_size=2000)
        count += len(objects)
    return count


# --- one export in a process of its own --------------------------------------------------------


def run_job(job_id: str, heap: bool) -> dict:
    """In the child process: the export, measured."""
    import resource
    import time as clock
    import tracemalloc

    from django.db import connection

    connection.ensure_connection()
    from recovery.fhir.models import BulkExportJob
    from recovery.fhir.services import bulk_export_run, storage

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if heap:
        tracemalloc.start()
    started = clock.perf_counter()
    outcome = bulk_export_run(job_id=job_id)
    elapsed = clock.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] if heap else None
    if heap:
        tracemalloc.stop()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job = BulkExportJob.objects.get(pk=job_id)
    store = storage()
    return {
        "outcome": outcome,
        "seconds": elapsed,
        "patients": job.patients_done,
        "resources": sum(e["count"] for e in job.output),
        "bytes": sum(store.size(e["name"]) for e in job.output),
        "files": {e["type"]: e["count"] for e in job.output},
        "rss_before_kib": base_kib,
        "rss_peak_kib": peak_kib,
        "heap_peak_bytes": heap_peak,
    }


def _child(job_id: str, heap: bool, env: dict) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bulk_export",
            "--child",
            job_id,
            *(["--heap"] if heap else []),
        ],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _new_job(seeded: dict) -> str:
    from recovery.fhir.models import BulkExportJob

    job = BulkExportJob.objects.create(
        clinic_id=seeded["clinic"],
        requested_by_id=seeded["admin"],
        level="group",
        request_url=f"http://bench/api/v1/fhir/Group/{seeded['clinic']}/$export",
    )
    return str(job.pk)


def run(args) -> dict:
    url = harness.database_url(DATABASE)
    if not args.reuse:
        harness.recreate_database(url)
    var = tempfile.mkdtemp(prefix="realign-bench-bulk-")
    os.environ["REALIGN_VAR_DIR"] = var
    harness.django_setup(url)
    import time as clock

    from django.conf import settings

    results = {"days": args.days, "chunk": settings.BULK_EXPORT_PATIENT_CHUNK, "cases": {}}
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REALIGN_VAR_DIR": var,
        "PYTHONPATH": str(harness.ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
    }
    for size in args.patients:
        started = clock.perf_counter()
        seeded = seed_clinic(size, args.days)
        seed_seconds = clock.perf_counter() - started
        case = {"seed_seconds": seed_seconds if seeded["rows"] else None, "rows": seeded["rows"]}
        if args.seed_only:
            results["cases"][str(size)] = case
            print(f"{size} patients seeded: {json.dumps(case)}", file=sys.stderr)
            continue
        case["timed"] = _child(_new_job(seeded), heap=False, env=env)
        if not args.no_heap:
            case["heap"] = _child(_new_job(seeded), heap=True, env=env)
        results["cases"][str(size)] = case
        print(f"{size} patients: {json.dumps(case)}", file=sys.stderr)
    return results


def report(result: dict, args) -> str:
    lines = [
        (
            f"One clinic per size, {result['days']} days per patient, patient chunk "
            f"{result['chunk']}; each export in a fresh process."
        ),
        "",
        (
            "| patients | rows seeded (s) | resources | NDJSON MiB | export s | resources/s "
            "| peak RSS MiB (growth) | tracemalloc peak MiB |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, case in result["cases"].items():
        if "timed" not in case:
            lines.append(
                f"| {int(size):,} | {case['rows']} ({case['seed_seconds']}) | seeded only |"
            )
            continue
        timed = case["timed"]
        heap = case.get("heap") or {}
        growth = (timed["rss_peak_kib"] - timed["rss_before_kib"]) / 1024
        seeded = f"{case['rows']:,} ({case['seed_seconds']:.0f})" if case["rows"] else "reused"
        heap_mib = f"{heap['heap_peak_bytes'] / 2**20:.1f}" if heap.get("heap_peak_bytes") else "-"
        lines.append(
            f"| {int(size):,} | {seeded} | {timed['resources']:,} | "
            f"{timed['bytes'] / 2**20:.0f} | {timed['seconds']:.1f} | "
            f"{timed['resources'] / timed['seconds']:,.0f} | "
            f"{timed['rss_peak_kib'] / 1024:.0f} (+{growth:.0f}) | {heap_mib} |"
        )
    return "\n".join(lines)


def _child_main(argv) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--heap", action="store_true")
    args = parser.parse_args(argv)
    harness.django_setup(os.environ["DATABASE_URL"], migrate=False)
    print(json.dumps(run_job(args.child, args.heap)))


if __name__ == "__main__":
    _child_main(sys.argv[1:])
