"""Clinical record: list 500 pain logs of one patient who has 10,000, over HTTP.

The API (gunicorn + Django + DRF, JWT auth, the real list path) side by side with the floor
(``bench.floor``: the same rows by psycopg, written by orjson) under the same gunicorn settings,
on a PostgreSQL database of the benchmark's own, seeded with bulk inserts.
"""

import random
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from . import harness

NAME = "pain-log-list"
COLUMNS = (
    "id",
    "patient_id",
    "created_by_id",
    "created_at",
    "updated_at",
    "recorded_at",
    "intensity",
    "location",
    "medication_taken",
    "relief",
    "notes",
)
WIRE = (
    "id",
    "patient",
    "created_by",
    "created_at",
    "updated_at",
    "recorded_at",
    "intensity",
    "location",
    "medication_taken",
    "relief",
    "notes",
)


def seed(*, rows: int, noise_rows: int) -> dict:
    """A clinic, a surgeon, the patient with ``rows`` pain logs and another with ``noise_rows``."""
    from accounts import services as accounts
    from accounts.tokens import tokens_for
    from recovery.models import PainLog

    rng = random.Random(7)  # the same data every run
    clinic = accounts.clinic_create(name="Bench clinic", time_zone="America/New_York")
    surgeon = accounts.staff_create(clinic=clinic, email="surgeon@bench.test", role="surgeon")
    patients = [
        accounts.patient_create(
            clinic=clinic,
            email=f"patient{i}@bench.test",
            first_name="Bench",
            last_name=f"P{i}",
            date_of_birth=date(1968, 4, 2),
            time_zone="America/New_York",
            surgeon=surgeon,
        )
        for i in range(2)
    ]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    locations = ["back", "leg", "neck", "arm", "incision", "other"]
    reliefs = ["ice", "heat", "brace", "rest", "walking"]
    for patient, count in zip(patients, (rows, noise_rows), strict=True):
        batch = []
        for i in range(count):
            when = start + timedelta(minutes=53 * i + rng.randrange(50))
            batch.append(
                PainLog(
                    id=f"p{patient.pk}-{i:06d}",
                    patient=patient,
                    created_by=patient.user,
                    created_at=when,
                    updated_at=when,
                    sync_version=i + 1,
                    recorded_at=when,
                    intensity=rng.randrange(11),
                    location=rng.choice(locations),
                    medication_taken=rng.random() < 0.3,
                    relief=rng.sample(reliefs, rng.randrange(3)),
                    notes="Sharp after sitting, eased by walking." if i % 4 == 0 else "",
                )
            )
        PainLog.objects.bulk_create(batch, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by now: plans use fresh statistics
    patient = patients[0]
    return {"patient_id": patient.pk, "access": tokens_for(patient.user)["access"]}


def run(args) -> dict:
    url = harness.database_url(args.database)
    harness.recreate_database(url)
    harness.django_setup(url)
    seeded = seed(rows=args.rows, noise_rows=args.noise_rows)

    floor_sql = (
        f"SELECT {', '.join(COLUMNS)} FROM recovery_pain_log "
        "WHERE patient_id = %s AND deleted_at IS NULL "
        f"ORDER BY recorded_at DESC, id DESC LIMIT {args.page_size}"
    )
    common = {"GUNICORN_CMD_ARGS": ""}
    api_env = {
        **common,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "REDIS_URL": "",
        "CACHE_URL": "",
    }
    floor_env = {
        **common,
        "BENCH_DATABASE_URL": url,
        "BENCH_FLOOR_SQL": floor_sql,
        "BENCH_FLOOR_NAMES": ",".join(WIRE),
    }
    apis = {"api": (harness.ROOT, {})}
    for spec in args.compare:  # other versions of the API, served side by side (A/B)
        tree, _, extra = spec.partition(":")
        apis[f"api {tree}{':' + extra if extra else ''}"] = (
            Path(tree).resolve(),
            dict(pair.split("=", 1) for pair in extra.split(",") if pair),
        )
    with ExitStack() as servers:
        targets = {}
        for name, (root, extra_env) in apis.items():
            api = servers.enter_context(
                harness.Gunicorn(
                    "config.wsgi:application",
                    env={**api_env, **extra_env},
                    ready_path="/healthz",
                    root=root,
                )
            )
            targets[name] = harness.Target(
                f"{api.url}/api/v1/pain-logs/?page_size={args.page_size}",
                {"Authorization": f"Bearer {seeded['access']}"},
            )
        floor = servers.enter_context(harness.Gunicorn("bench.floor:application", env=floor_env))
        targets["floor"] = harness.Target(f"{floor.url}/rows?p={seeded['patient_id']}")
        _check_same_rows(targets, args.page_size)
        samples = harness.interleave(targets, requests_per_target=args.requests, warmup=args.warmup)
    result = {name: harness.summary(values) for name, values in samples.items()}
    for name in apis:
        result[name]["ratio"] = result[name]["median_ms"] / result["floor"]["median_ms"]
    result["ratio"] = result["api"]["ratio"]
    return result


def _check_same_rows(targets, page_size) -> None:
    """Every API answers the floor's rows in the same order (else the comparison means nothing)."""
    import requests

    floor = requests.get(targets["floor"].url, timeout=30).json()["results"]
    assert len(floor) == page_size, len(floor)
    for name, target in targets.items():
        api = requests.get(target.url, headers=target.headers, timeout=30).json()["results"]
        assert len(api) == page_size, (name, len(api))
        assert [r["id"] for r in api] == [r["id"] for r in floor], name
        assert set(api[0]) == set(floor[0]), (name, set(api[0]) ^ set(floor[0]))


def add_arguments(parser) -> None:
    parser.add_argument("--rows", type=int, default=10_000, help="pain logs of the listed patient")
    parser.add_argument(
        "--noise-rows", type=int, default=2_000, help="pain logs of another patient"
    )
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--database", default="realign_bench", help="dropped and recreated")
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="TREE[:ENV=VALUE,...]",
        help="also serve the API from these trees (e.g. a git worktree of another commit), "
        "interleaved with the current one and the floor",
    )


def report(result: dict, args) -> str:
    floor = result["floor"]
    lines = ["| endpoint | median ms | p90 ms | mean ms | n |", "|---|---|---|---|---|"]
    for name, api in result.items():
        if name.startswith("api"):
            label = f"API `GET /api/v1/pain-logs/?page_size={args.page_size}`" + name[3:]
            lines.append(
                f"| {label} | {api['median_ms']:.2f} | {api['p90_ms']:.2f} | {api['mean_ms']:.2f} | {api['n']} |"
            )
    lines.append(
        f"| floor (psycopg + orjson, bare WSGI) | {floor['median_ms']:.2f} | {floor['p90_ms']:.2f} | {floor['mean_ms']:.2f} | {floor['n']} |"
    )
    lines.append("")
    lines += [
        f"Ratio of medians{name[3:]}: **{api['ratio']:.2f}x** the floor."
        for name, api in result.items()
        if name.startswith("api")
    ]
    return "\n".join(lines)
