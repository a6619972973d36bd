"""Reusable pieces for HTTP benchmarks against a real server on PostgreSQL.

- ``recreate_database(url)``: drops and creates the bench database (never the app's own).
- ``django_setup(url)``: points Django at it (before anything imports settings) and migrates.
- ``Gunicorn``: starts a WSGI app under gunicorn on a free port, the same settings for every
  app a benchmark compares, and stops it.
- ``interleave(targets, requests=..., warmup=...)``: times GET requests to several targets in
  turn (A, B, A, B...), so drift in the machine's load hits all of them alike.
- ``summary(samples)``: median, p90, mean in milliseconds.

Only loopback addresses are used; every loop is bounded.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/"


def database_url(name: str, server_url: str | None = None) -> str:
    server = urlsplit(server_url or os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER_URL))
    return urlunsplit((server.scheme, server.netloc, f"/{name}", "", ""))


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith("realign_bench"):
        raise SystemExit(f"refusing to drop {name!r}: bench databases are named realign_bench*")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with closing(psycopg.connect(admin, autocommit=True)) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str, *, migrate: bool = True) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Gunicorn:
    """``with Gunicorn("config.wsgi:application", env={...}) as server: server.url``"""

    app: str
    env: dict = field(default_factory=dict)
    workers: int = 1
    threads: int = 1
    ready_path: str = "/"
    root: Path = ROOT  # the tree the app is imported from (another worktree for A/B runs)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        env = {**os.environ, **self.env, "PYTHONPATH": str(self.root)}
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited with {self.process.returncode}")
            try:
                requests.get(self.url + self.ready_path, timeout=10)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn {self.app} did not answer within 60 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Target:
    url: str
    headers: dict = field(default_factory=dict)


def _timed_get(session: requests.Session, target: Target) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    response = session.get(target.url, headers=target.headers, timeout=30)
    _ = response.content  # read the whole body inside the timing
    return time.perf_counter() - start, response


def interleave(
    targets: dict[str, Target], *, requests_per_target: int, warmup: int = 20
) -> dict[str, list[float]]:
    """Seconds per request for each target, requested in turn."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    with requests.Session() as session:
        for i in range(warmup + requests_per_target):
            for name, target in targets.items():
                elapsed, response = _timed_get(session, target)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
                if i >= warmup:
                    samples[name].append(elapsed)
    return samples


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
    }
