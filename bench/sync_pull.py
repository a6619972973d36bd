"""Benchmark: sync pull over HTTP (gunicorn + PostgreSQL) against a floor.

    .venv/bin/python bench/sync_pull.py [--postgres postgres://postgres@127.0.0.1:5432] [--rounds 30]

Seeds a bench database of its own (``realign_bench_sync``, dropped and recreated) with one
patient and a year of data (about 2,000 rows across the synced tables), starts two gunicorn
servers side by side (one worker each) and times, in the same run:

- the real endpoint, ``GET /api/v1/sync/pull/`` (JWT auth, clock lock, registry codecs, orjson);
- a floor: a bare WSGI app that fetches the same rows and columns with psycopg in one
  transaction (clock under its lock, then all tables in one pipelined round trip, times and
  dates converted in SQL) and serialises them with orjson. No Django, no auth: the least any
  implementation has to do.

for a first pull (``last_pulled_at=null``), an incremental pull of 20 changes, and an
unchanged pull (``last_pulled_at`` = the clock: nothing to send). Prints the
medians and ratios as a markdown table (docs/benchmarks.md, ``## Sync``).

Small functions on purpose (database, seed, serve, time_pairs) so the shared
``bench/harness.py`` can replace them later; ``NAME``/``add_arguments``/``run``/``report`` are the
interface ``python -m bench`` expects (one line in ``bench/__main__.py`` registers it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "realign_bench_sync"


# --- database -------------------------------------------------------------------------------------


def recreate_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- data -----------------------------------------------------------------------------------------


def seed_patient(*, days: int = 365, tag: str = ""):
    """One patient with a year of history through the real services: per day 4 pain logs and one
    of PT session / milestone / restriction, plus a surgery, a stay and monthly appointments.
    ``tag`` tells apart several patients seeded in one database."""
    from django.utils import timezone

    from accounts import services as accounts
    from recovery.record.kinds import (
        APPOINTMENTS,
        HOSPITAL_STAYS,
        MILESTONES,
        PAIN_LOGS,
        PT_SESSIONS,
        RESTRICTIONS,
        SURGERIES,
    )
    from recovery.record.writes import record_create

    clinic = accounts.clinic_create(name=f"Bench clinic{tag}")
    surgeon = accounts.staff_create(clinic=clinic, email=f"surgeon{tag}@bench.test", role="surgeon")
    patient = accounts.patient_create(
        clinic=clinic,
        email=f"patient{tag}@bench.test",
        first_name="Bench",
        last_name="Patient",
        date_of_birth=timezone.localdate().replace(year=1970),
        time_zone="America/New_York",
        surgeon=surgeon,
    )
    user = patient.user
    start = timezone.now() - timedelta(days=days)
    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=start.date(),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        surgeon=surgeon,
    )
    record_create(
        HOSPITAL_STAYS,
        actor=surgeon,
        patient=patient,
        surgery=surgery,
        admitted_at=start,
        discharged_at=start + timedelta(days=3),
        facility="General",
        discharge_disposition="home",
    )
    for day in range(days):
        when = start + timedelta(days=day, hours=9)
        for n in range(4):
            record_create(
                PAIN_LOGS,
                actor=user,
                patient=patient,
                recorded_at=when + timedelta(hours=3 * n),
                intensity=(day + n) % 11,
                location="back",
                relief=["ice", "walking"][: n % 3],
                notes="after the morning walk" if n == 0 else "",
            )
        if day % 3 == 0:
            record_create(
                PT_SESSIONS,
                actor=user,
                patient=patient,
                performed_at=when,
                status="completed",
                exercises=[{"name": "bridges", "sets": 3, "reps": 10}],
                pain_before=5,
                pain_after=4,
            )
        elif day % 3 == 1:
            record_create(
                MILESTONES,
                actor=surgeon,
                patient=patient,
                title=f"Goal {day}",
                target_on=when.date(),
            )
        else:
            record_create(
                RESTRICTIONS,
                actor=surgeon,
                patient=patient,
                activity="lifting",
                starts_on=when.date(),
                ends_on=when.date() + timedelta(days=30),
                limit_value=10,
                limit_unit="lb",
            )
        if day % 30 == 0:
            record_create(
                APPOINTMENTS,
                actor=surgeon,
                patient=patient,
                starts_at=when,
                purpose="follow_up",
                clinician=surgeon,
                status="completed",
            )
    return patient


def make_changes(patient, count: int = 20) -> None:
    from django.utils import timezone

    from recovery.models import PainLog
    from recovery.record.kinds import PAIN_LOGS
    from recovery.record.writes import record_create, record_update

    logs = list(PainLog.objects.filter(patient=patient).order_by("-recorded_at")[: count // 2])
    for log in logs:
        record_update(PAIN_LOGS, actor=patient.user, record=log, intensity=(log.intensity + 1) % 11)
    for n in range(count - len(logs)):
        record_create(
            PAIN_LOGS,
            actor=patient.user,
            patient=patient,
            recorded_at=timezone.now() - timedelta(minutes=n),
            intensity=3,
            location="leg",
        )


def clock_value(patient) -> int:
    from accounts.models import PatientClock

    return PatientClock.objects.get(patient=patient).value


def floor_spec(schema_version: int = 2) -> list:
    """What the floor selects: per table the db table and (wire name, db column, kind)."""
    from recovery.sync.tables import EpochMs, ForeignId, IsoDate, JsonList, Number, tables_for

    kinds = {EpochMs: "ms", IsoDate: "date", JsonList: "json", ForeignId: "text", Number: "float"}
    return [
        [
            table.model._meta.db_table,
            [
                [c.name, table.model._meta.get_field(c.name).column, kinds.get(type(c.codec), "")]
                for c in table.columns_for(schema_version)
            ],
            table.name,
        ]
        for table in tables_for(schema_version)
    ]


# --- the floor: psycopg + orjson, nothing else ---------------------------------------------------

_floor = {}

_SQL_FOR_KIND = {
    "ms": "(extract(epoch from {c}) * 1000)::bigint",
    "date": "to_char({c}, 'YYYY-MM-DD')",
    "json": "{c}::text",
    "text": "{c}::text",
    "float": "{c}::float8",
    "": "{c}",
}


def _floor_queries():
    if "queries" not in _floor:
        spec = json.loads(os.environ["SYNC_FLOOR_SPEC"])
        queries = []
        for db_table, columns, wire_table in spec:
            names = ["id", *(name for name, _, _ in columns)]
            select = ", ".join(
                ["id", *(_SQL_FOR_KIND[kind].format(c=f'"{col}"') for _, col, kind in columns)]
            )
            sql = (
                f'SELECT deleted_at IS NOT NULL, {select} FROM "{db_table}" '
                "WHERE patient_id = %(patient)s AND ((%(since)s::bigint IS NULL AND deleted_at IS NULL) "
                "OR sync_version > %(since)s::bigint)"
            )
            queries.append((wire_table, names, sql))
        _floor["queries"] = queries
    return _floor["queries"]


def floor_app(environ, start_response):
    """One transaction: the clock under its lock, then every table's rows, all in one round trip
    (psycopg pipeline mode), each row a dict, then orjson. The transaction holds nothing but the
    clock's row lock, so it commits without waiting for a WAL flush (``synchronous_commit =
    off`` for it alone), as the endpoint does: durably committing a lock protects nothing."""
    import orjson
    import psycopg

    if "conn" not in _floor:
        _floor["conn"] = psycopg.connect(os.environ["DATABASE_URL"])
    conn = _floor["conn"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    since = query.get("last_pulled_at", ["null"])[0]
    args = {"patient": int(query["patient"][0]), "since": None if since == "null" else int(since)}
    changes = {}
    with conn.transaction():
        with conn.pipeline():
            conn.execute("SET LOCAL synchronous_commit = off")
            clock = conn.execute(
                "SELECT value FROM accounts_patientclock WHERE patient_id = %(patient)s FOR UPDATE",
                args,
            )
            cursors = [
                (wire_table, names, conn.execute(sql, args))
                for wire_table, names, sql in _floor_queries()
            ]
        timestamp = clock.fetchone()[0]
        for wire_table, names, cursor in cursors:
            updated, deleted = [], []
            for row in cursor.fetchall():
                if row[0]:
                    deleted.append(row[1])
                else:
                    updated.append(dict(zip(names, row[1:], strict=True)))
            changes[wire_table] = {"created": [], "updated": updated, "deleted": deleted}
    body = orjson.dumps({"changes": changes, "timestamp": timestamp})
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


# --- serving and timing ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(app: str, *, env: dict, chdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--chdir",
            str(chdir),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start: {process.stderr.read().decode()}")


def time_one(session, url: str, headers=None) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url, headers=headers)
    body = response.content
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, len(body)


def time_pairs(session, *targets: tuple, rounds: int, warmup: int = 5) -> list[tuple[float, int]]:
    """Median wall time (ms) and body size of two (or more) requests, timed in turn so that
    noise from other processes on the machine falls on all alike. Each target is (url, headers)."""
    for _ in range(warmup):
        for target in targets:
            time_one(session, *target)
    times: list[list] = [[] for _ in targets]
    sizes = [0] * len(targets)
    for _ in range(rounds):
        for i, (url, headers) in enumerate(targets):
            elapsed, sizes[i] = time_one(session, url, headers)
            times[i].append(elapsed)
    return [(statistics.median(times[i]), sizes[i]) for i in range(len(targets))]


def row_count(body: dict) -> int:
    return sum(len(c["updated"]) + len(c["deleted"]) for c in body["changes"].values())


NAME = "sync-pull"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--compare",
        type=Path,
        help="another tree (e.g. a worktree of main) whose endpoint is timed in the same turns",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DB,
        help="the bench database's name (realign_bench*; dropped and recreated)",
    )


def run(args) -> dict:
    """The interface of ``python -m bench`` (bench/__main__.py): returns the medians."""
    import requests

    if not args.database.startswith("realign_bench"):
        raise SystemExit(f"refusing to drop {args.database!r}: bench databases are realign_bench*")
    database_url = recreate_database(args.postgres.rstrip("/"), args.database)
    django_setup(database_url)
    started = time.perf_counter()
    patient = seed_patient(days=args.days)
    print(f"seeded in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    from accounts.tokens import tokens_for

    env = {
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "SYNC_FLOOR_SPEC": json.dumps(floor_spec()),
    }
    django_server, django_url = serve("config.wsgi:application", env=env, chdir=ROOT)
    floor_server, floor_url = serve("sync_pull:floor_app", env=env, chdir=ROOT / "bench")
    servers = [django_server, floor_server]
    compare_url = None
    if args.compare:
        compare_server, compare_url = serve(
            "config.wsgi:application",
            env={**env, "PYTHONPATH": str(args.compare.resolve())},
            chdir=args.compare.resolve(),
        )
        servers.append(compare_server)
    results = {}
    try:
        session = requests.Session()
        auth = {"Authorization": f"Bearer {tokens_for(patient.user)['access']}"}
        pull = f"{django_url}/api/v1/sync/pull/?schema_version=2&last_pulled_at="
        floor = f"{floor_url}/?patient={patient.pk}&last_pulled_at="
        first_rows = row_count(session.get(pull + "null", headers=auth).json())
        assert first_rows == row_count(session.get(floor + "null").json())
        cases = [("first", "null", args.rounds)]
        since = clock_value(patient)
        make_changes(patient, 20)
        cases.append(("incremental", str(since), args.rounds * 3))
        # Nothing changed since the last pull: what a phone's periodic pull usually finds.
        cases.append(("unchanged", str(clock_value(patient)), args.rounds * 3))
        for name, last_pulled_at, rounds in cases:
            rows = row_count(session.get(pull + last_pulled_at, headers=auth).json())
            targets = [(pull + last_pulled_at, auth), (floor + last_pulled_at, None)]
            if compare_url:
                other = compare_url + pull.removeprefix(django_url)
                assert rows == row_count(session.get(other + last_pulled_at, headers=auth).json())
                targets.append((other + last_pulled_at, auth))
            timed = time_pairs(session, *targets, rounds=rounds)
            (ms, size), (floor_ms, _) = timed[:2]
            results[name] = {
                "rows": rows,
                "bytes": size,
                "endpoint_ms": ms,
                "floor_ms": floor_ms,
                "rounds": rounds,
            }
            if compare_url:
                results[name]["compare_ms"] = timed[2][0]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    return results


def report(result: dict, args=None) -> str:
    compare = any("compare_ms" in r for r in result.values())
    lines = [
        "| pull | rows | body | endpoint median | floor median | ratio |"
        + (" compared tree | its ratio |" if compare else ""),
        "|---|---|---|---|---|---|" + ("---|---|" if compare else ""),
    ]
    for name, r in result.items():
        line = (
            f"| {name} | {r['rows']} | {r['bytes'] / 1024:.0f} KiB | {r['endpoint_ms']:.1f} ms "
            f"| {r['floor_ms']:.1f} ms | {r['endpoint_ms'] / r['floor_ms']:.2f}x |"
        )
        if "compare_ms" in r:
            line += f" {r['compare_ms']:.1f} ms | {r['compare_ms'] / r['floor_ms']:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(report(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
