"""Real processes for the fault tests: a throwaway redis-server, celery workers and beats.

Every process is started in its own session and stopped by its own process group id; the
machine's shared Redis and PostgreSQL are never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class RedisServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=open(self.workdir / "redis.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port)
        wait_for(lambda: _ping(client), 10, what="redis-server")

    def kill(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)

    def restart(self, pause: float = 1.0) -> None:
        self.kill()
        time.sleep(pause)
        self.start()


def _ping(client) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Cluster:
    """Workers and beats sharing one broker, one database and one record file."""

    def __init__(self, workdir: Path, broker_url: str, **env):
        self.workdir = workdir
        self.record = workdir / "deliveries.log"
        self.record.touch()
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "REDIS_URL": "",
            "REALIGN_VAR_DIR": str(workdir / "var"),
            "REMINDERS_CHANNEL_BACKEND_OVERRIDE": "reminders.channels.testing.RecordingChannel",
            "REMINDERS_RECORD_FILE": str(self.record),
            "REMINDERS_RECORD_DELAY": "0.01",
            "REMINDERS_DISPATCH_INTERVAL": "1",
            "REMINDERS_DISPATCH_BATCH": "50",
            "REMINDERS_DELIVERY_CHUNK": "10",
            "REMINDERS_DISPATCH_TIME_BUDGET": "5",
            "REMINDERS_CLAIM_LEASE_SECONDS": "5",
            "REMINDERS_RETRY_BACKOFF_SECONDS": "1",
            "REMINDERS_MAX_ATTEMPTS": "5",
            "CELERY_VISIBILITY_TIMEOUT": "30",
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app", "config", *args],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.workdir / log_name, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def worker(self, name: str, concurrency: int = 2) -> subprocess.Popen:
        return self._spawn(
            [
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            f"{name}.log",
        )

    def beat(self, name: str) -> subprocess.Popen:
        return self._spawn(
            [
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.workdir / f"{name}-schedule"),
                "--pidfile",
                str(self.workdir / f"{name}.pid"),
            ],
            f"{name}.log",
        )

    def deliveries(self) -> list[int]:
        return [int(line.split()[0]) for line in self.record.read_text().splitlines() if line]

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)
