"""Benchmark: a first sync of a patient with three years of data, paged and one-shot.

    PYTHONPATH=$PWD .venv/bin/python -m bench sync-first-sync [--page-size 500] [--rounds 3]

Drops and recreates its own database (``realign_bench_sync_first``), seeds two patients through
the real services (``bench/sync_pull.py:seed_patient``: one year and three years, about 1,850
and 5,500 live rows), and for each serves the app under gunicorn (one sync worker, a fresh
server per case so that its peak memory belongs to that case) and measures, over real HTTP:

- **one-shot**: ``GET /api/v1/sync/pull/?last_pulled_at=null`` (what a client that does not ask
  for pages gets): wall time, body size;
- **paged**: the same first sync as the pages of docs/sync.md ("Paged pull"):
  ``page_size=N``, then ``cursor`` until it is null: wall time for all pages, number of pages,
  largest page.

Server memory, two ways: the gunicorn worker's peak resident set (``VmHWM`` in ``/proc``) after
a warm-up request and after the case (coarse: the allocator keeps what it once took); and, in
this process through the same WSGI application, ``tracemalloc``'s peak of Python memory during
one request above what was allocated before it (exact, per request: the one-shot pull, and the
largest of the pages). ``--reuse`` measures the patients of a previous run without seeding.
Both the one-shot pull and the pages ask for schema version 3 (all tables). The run checks that
the pages add up to the one-shot pull, row for row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

from . import harness
from .sync_pull import seed_patient

NAME = "sync-first-sync"
DATABASE = "realign_bench_sync_first"
PULL = "/api/v1/sync/pull/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="timed first syncs per case")
    parser.add_argument(
        "--years", type=int, nargs="+", default=[1, 3], help="history of each seeded patient"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run")


def _worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _rows(body: dict) -> set[tuple[str, str]]:
    return {(t, r["id"]) for t, c in body["changes"].items() for r in c["updated"]}


def one_shot(session, url, headers) -> tuple[float, dict]:
    started = time.perf_counter()
    response = session.get(
        url, params={"last_pulled_at": "null", "schema_version": 3}, headers=headers, timeout=600
    )
    response.raise_for_status()
    body = response.json()
    return time.perf_counter() - started, {"bytes": len(response.content), "rows": _rows(body)}


def paged(session, url, headers, page_size: int) -> tuple[float, dict]:
    started = time.perf_counter()
    params = {"last_pulled_at": "null", "schema_version": 3, "page_size": page_size}
    rows, pages, largest = set(), 0, 0
    while True:
        response = session.get(url, params=params, headers=headers, timeout=600)
        response.raise_for_status()
        body = response.json()
        pages += 1
        largest = max(largest, len(response.content))
        rows |= _rows(body)
        if body["cursor"] is None:
            break
        params = {"cursor": body["cursor"], "schema_version": 3}
    return time.perf_counter() - started, {"pages": pages, "largest": largest, "rows": rows}


def measure(database_url: str, token: str, case, rounds: int) -> dict:
    env = {"DATABASE_URL": database_url, "DJANGO_DEBUG": "false"}
    with harness.Gunicorn("config.wsgi:application", env=env, ready_path="/healthz") as server:
        worker = _worker_pid(server.process.pid)
        headers = {"Authorization": f"Bearer {token}"}
        url = server.url + PULL
        with requests.Session() as session:
            warm = session.get(
                url,
                params={"last_pulled_at": "null", "schema_version": 3, "page_size": 1},
                headers=headers,
                timeout=60,
            )
            warm.raise_for_status()
            before = _peak_kib(worker)
            times, detail = [], {}
            for _ in range(rounds):
                elapsed, detail = case(session, url, headers)
                times.append(elapsed)
            after = _peak_kib(worker)
    return {
        "median_ms": statistics.median(times) * 1000,
        "peak_rss_before_kib": before,
        "peak_rss_after_kib": after,
        **detail,
    }


def heap_peaks(token: str, page_size: int) -> dict:
    """Peak Python memory (tracemalloc) of one request above what was allocated before it."""
    import gc
    import io
    import json
    import tracemalloc
    from urllib.parse import urlencode

    from config.wsgi import application

    def request(params) -> tuple[bytes, int]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": PULL,
            "QUERY_STRING": urlencode(params),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        body = b"".join(application(environ, lambda status, headers: None))
        return body, tracemalloc.get_traced_memory()[1] - before

    first = {"last_pulled_at": "null", "schema_version": 3}
    tracemalloc.start()
    try:
        request({**first, "page_size": 1})  # warm-up
        _, whole = request(first)
        body, peak = request({**first, "page_size": page_size})
        peaks = [peak]
        while cursor := json.loads(body)["cursor"]:
            body, peak = request({"cursor": cursor, "schema_version": 3})
            peaks.append(peak)
    finally:
        tracemalloc.stop()
    return {"one_shot_kib": whole / 1024, "largest_page_kib": max(peaks) / 1024}


def run(args) -> dict:
    url = harness.database_url(DATABASE)
    if not args.reuse:
        harness.recreate_database(url)
    harness.django_setup(url)
    from accounts.models import PatientProfile
    from accounts.tokens import tokens_for

    results = {}
    for years in args.years:
        started = time.perf_counter()
        email = f"patient-{years}y@bench.test"
        patient = PatientProfile.objects.filter(user__email=email).first() if args.reuse else None
        if patient is None:
            patient = seed_patient(days=365 * years, tag=f"-{years}y")
        print(f"seeded {years} year(s) in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        token = tokens_for(patient.user)["access"]
        whole = measure(url, token, one_shot, args.rounds)
        pages = measure(url, token, lambda s, u, h: paged(s, u, h, args.page_size), args.rounds)
        if pages.pop("rows") != whole.pop("rows") or not whole:
            raise SystemExit("the pages do not add up to the one-shot pull")
        results[f"{years}y"] = {"one_shot": whole, "paged": pages, "page_size": args.page_size}
        results[f"{years}y"]["live_rows"] = _live_rows(patient)
        results[f"{years}y"]["heap"] = heap_peaks(token, args.page_size)
    return results


def _live_rows(patient) -> int:
    from recovery.sync.tables import tables_for

    return sum(
        t.model._base_manager.filter(patient=patient, deleted_at__isnull=True).count()
        for t in tables_for(3)
    )


def _growth_mib(case: dict) -> float:
    return (case["peak_rss_after_kib"] - case["peak_rss_before_kib"]) / 1024


def report(result: dict, args=None) -> str:
    lines = [
        (
            "| history | live rows | first sync | time (median) | pages | body / largest page "
            "| worker peak RSS growth | Python heap peak of a request |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for history, r in result.items():
        whole, pages = r["one_shot"], r["paged"]
        lines.append(
            f"| {history} | {r['live_rows']} | one-shot | {whole['median_ms']:.0f} ms | 1 | "
            f"{whole['bytes'] / 1024:.0f} KiB | {_growth_mib(whole):.1f} MiB "
            f"| {r['heap']['one_shot_kib'] / 1024:.2f} MiB |"
        )
        lines.append(
            f"| {history} | {r['live_rows']} | paged ({r['page_size']}) | "
            f"{pages['median_ms']:.0f} ms | {pages['pages']} | {pages['largest'] / 1024:.0f} KiB | "
            f"{_growth_mib(pages):.1f} MiB | {r['heap']['largest_page_kib'] / 1024:.2f} MiB (largest page) |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    print(report(run(args), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
