"""Benchmark: three years of daily steps, pushed by a phone and pulled by a new phone.

    PYTHONPATH=$PWD .venv/bin/python -m bench steps-pull [--years 3] [--rounds 5] [--page-size 500]

Drops and recreates its own database (``realign_bench_steps_pull``), creates a patient with a
revision surgery 60 days ago through the real services, and serves the app under gunicorn (one
sync worker). Over real HTTP, as the app does (sync schema version 5):

- **backfill push**: the phone's first push of the whole history (one record per day, about
  1,100 for three years, WatermelonDB's random ids), in pushes of at most
  ``SYNC_PUSH_MAX_RECORDS``; timed once (it is a first write), answers checked (nothing refused);
- **re-push**: the same history again with new ids (a second phone that counted the same
  days): merged by day, nothing duplicated; timed once, then checked that the patient still
  has one row per day;
- **first pull**: ``GET /api/v1/sync/pull/?last_pulled_at=null`` of a new phone, one-shot and
  paged (``page_size``), median of ``--rounds``: wall time, body size, pages. The pull carries
  the day rows and the tombstones of the second phone's ids; the run checks that the pages add
  up to the one-shot pull.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from datetime import timedelta

import requests

from . import harness

NAME = "steps-pull"
DATABASE = "realign_bench_steps_pull"
PULL = "/api/v1/sync/pull/"
PUSH = "/api/v1/sync/push/"
VERSION = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="timed pulls per case")
    parser.add_argument("--page-size", type=int, default=500)


def _seed(years: int):
    from django.utils import timezone

    from accounts import services as accounts
    from recovery.record.kinds import SURGERIES
    from recovery.record.writes import record_create

    clinic = accounts.clinic_create(name="Bench steps clinic")
    surgeon = accounts.staff_create(clinic=clinic, email="surgeon@steps.bench", role="surgeon")
    patient = accounts.patient_create(
        clinic=clinic,
        email="patient@steps.bench",
        first_name="Bench",
        last_name="Walker",
        date_of_birth=timezone.localdate().replace(year=1965),
        time_zone="America/New_York",
        surgeon=surgeon,
    )
    today = timezone.localdate(timezone=patient.tz)
    record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=today - timedelta(days=60),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        surgeon=surgeon,
    )
    return patient, today, 365 * years


def _history(today, days: int, base_ms: int) -> list[dict]:
    return [
        {
            "id": secrets.token_hex(8),  # WatermelonDB's 16 characters
            "day": str(today - timedelta(days=n)),
            "steps": 3000 + (n * 37) % 6000,
            "counted_at": base_ms + n,
            "source": "healthkit",
        }
        for n in range(days)
    ]


def _rows(body: dict) -> set[tuple[str, str, str]]:
    return {
        (table, section, r if isinstance(r, str) else r["id"])
        for table, sections in body["changes"].items()
        for section in ("updated", "deleted")
        for r in sections[section]
    }


def _push(session, url, headers, records, since) -> tuple[float, int]:
    """Pushes ``records`` in as few pushes as ``SYNC_PUSH_MAX_RECORDS`` allows, each against
    the timestamp of the phone's pull (the table has no conflicts). Returns (seconds, pushes)."""
    from django.conf import settings

    size = settings.SYNC_PUSH_MAX_RECORDS
    started = time.perf_counter()
    pushes = 0
    for first in range(0, len(records), size):
        part = records[first : first + size]
        response = session.post(
            url + PUSH,
            params={"last_pulled_at": since},
            data=json.dumps({"daily_steps": {"created": part, "updated": [], "deleted": []}}),
            headers={**headers, "Content-Type": "application/json"},
            timeout=600,
        )
        response.raise_for_status()
        pushes += 1
        if response.json()["rejected"]:
            raise SystemExit(f"push refused records: {response.json()['rejected'][:3]}")
    return time.perf_counter() - started, pushes


def _pull(session, url, headers, page_size=None) -> tuple[float, dict]:
    params = {"last_pulled_at": "null", "schema_version": VERSION}
    if page_size:
        params["page_size"] = page_size
    started = time.perf_counter()
    rows, pages, size = set(), 0, 0
    while True:
        response = session.get(url + PULL, params=params, headers=headers, timeout=600)
        response.raise_for_status()
        body = response.json()
        pages += 1
        size = max(size, len(response.content))
        rows |= _rows(body)
        if not body.get("cursor"):
            break
        params = {"cursor": body["cursor"], "schema_version": VERSION}
    return time.perf_counter() - started, {"pages": pages, "largest_bytes": size, "rows": rows}


def run(args) -> dict:
    url = harness.database_url(DATABASE)
    harness.recreate_database(url)
    harness.django_setup(url)
    from accounts.tokens import tokens_for
    from recovery.activity.models import DailySteps

    patient, today, days = _seed(args.years)
    token = tokens_for(patient.user)["access"]
    headers = {"Authorization": f"Bearer {token}"}
    env = {"DATABASE_URL": url, "DJANGO_DEBUG": "false"}
    result: dict = {"days": days, "page_size": args.page_size}
    with (
        harness.Gunicorn("config.wsgi:application", env=env, ready_path="/healthz") as server,
        requests.Session() as session,
    ):
        first = session.get(  # the phone's first (empty) pull
            server.url + PULL,
            params={"last_pulled_at": "null", "schema_version": VERSION},
            headers=headers,
            timeout=60,
        ).json()["timestamp"]
        base = int(time.time() * 1000)
        elapsed, result["pushes"] = _push(
            session, server.url, headers, _history(today, days, base), first
        )
        result["push_ms"] = elapsed * 1000
        again = _history(today, days, base + 10_000)  # a second phone, new ids, later counts
        result["repush_ms"] = _push(session, server.url, headers, again, first)[0] * 1000
        live = DailySteps.objects.filter(patient=patient).count()
        if live != days:
            raise SystemExit(f"{live} live rows for {days} days: the re-push duplicated days")
        result["live_rows"] = live
        result["tombstones"] = DailySteps.all_objects.filter(
            patient=patient, deleted_at__isnull=False
        ).count()
        for name, page_size in (("one_shot", None), ("paged", args.page_size)):
            times, detail = [], {}
            for _ in range(args.rounds):
                elapsed, detail = _pull(session, server.url, headers, page_size)
                times.append(elapsed)
            result[name] = {"median_ms": statistics.median(times) * 1000, **detail}
    if result["paged"].pop("rows") != result["one_shot"].pop("rows"):
        raise SystemExit("the pages do not add up to the one-shot pull")
    return result


def report(result: dict, args=None) -> str:
    lines = [
        (
            f"{result['days']} days of steps; after the re-push {result['live_rows']} live rows "
            f"and {result['tombstones']} tombstones (the second phone's ids)."
        ),
        "",
        "| step | time | detail |",
        "|---|---|---|",
        (
            f"| backfill push ({result['days']} records) | {result['push_ms']:.0f} ms "
            f"| {result['pushes']} push(es) (`SYNC_PUSH_MAX_RECORDS`) |"
        ),
        (
            f"| re-push, new ids (merged by day) | {result['repush_ms']:.0f} ms "
            f"| {result['pushes']} push(es) |"
        ),
    ]
    for name in ("one_shot", "paged"):
        r = result[name]
        label = (
            "first pull, one-shot"
            if name == "one_shot"
            else (f"first pull, paged ({result['page_size']})")
        )
        lines.append(
            f"| {label} | {r['median_ms']:.0f} ms (median) | {r['pages']} page(s), "
            f"largest {r['largest_bytes'] / 1024:.0f} KiB |"
        )
    return "\n".join(lines)
