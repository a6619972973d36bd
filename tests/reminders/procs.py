"""Real processes for the fault tests: a throwaway redis-server or RabbitMQ node, celery
workers and beats.

Every process is started in its own session and stopped by its own process group id; the
machine's shared Redis, RabbitMQ and PostgreSQL are never touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import kombu
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
    """A throwaway redis-server. ``appendonly`` as the compose broker (``--appendonly yes``):
    what it acknowledged survives a kill; without it a restart comes back empty."""

    kind = "redis"

    def __init__(self, workdir: Path, *, appendonly: bool = False):
        self.port = free_port()
        self.workdir = workdir
        self.appendonly = appendonly
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
                "yes" if self.appendonly else "no",
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


RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitMQNode:
    """A throwaway RabbitMQ node of its own: its own node name, AMQP and distribution ports,
    data, logs, config, (empty) plugin list and Erlang cookie, all under ``workdir``; only the
    machine's epmd is shared (node names differ). Started in its own process group, killed by
    it. Its data survives ``restart`` (same node name, same directory), as a real broker's disk.

    Starting a node takes seconds, so tests share one and each takes a fresh virtual host of
    its own (``vhost()``): queues, exchanges and messages of one test are invisible to another.
    The vhosts are made at boot from a definitions file (no management plugin, no rabbitmqctl).
    """

    kind = "rabbitmq"
    VHOSTS = 40

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.dist_port = free_port()
        self.nodename = f"rt-{self.port}@localhost"
        self.proc: subprocess.Popen | None = None
        self._next_vhost = 0
        (workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            f"load_definitions = {workdir / 'definitions.json'}\n"
            "log.file.level = info\n"
        )
        (workdir / "enabled_plugins").write_text("[].\n")
        (workdir / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        vhosts = [f"t{i}" for i in range(self.VHOSTS)]
        (workdir / "definitions.json").write_text(
            json.dumps(
                {
                    "users": [
                        {
                            "name": "guest",
                            "password_hash": _rabbit_password_hash("guest"),
                            "hashing_algorithm": "rabbit_password_hashing_sha256",
                            "tags": ["administrator"],
                        }
                    ],
                    "vhosts": [{"name": v} for v in vhosts],
                    "permissions": [
                        {
                            "user": "guest",
                            "vhost": v,
                            "configure": ".*",
                            "write": ".*",
                            "read": ".*",
                        }
                        for v in vhosts
                    ],
                }
            )
        )

    def url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def vhost(self) -> str:
        assert self._next_vhost < self.VHOSTS, "more tests than prepared vhosts: raise VHOSTS"
        self._next_vhost += 1
        return f"t{self._next_vhost - 1}"

    def _env(self) -> dict:
        d = self.workdir
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(d),  # its own ~/.erlang.cookie
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),  # none
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self, timeout: float = 90) -> None:
        self.proc = subprocess.Popen(
            [RABBITMQ_SERVER],
            cwd=self.workdir,
            env=self._env(),
            stdout=open(self.workdir / "rabbitmq.out", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._accepts, timeout, interval=0.25, what=f"RabbitMQ node {self.nodename}")

    def _accepts(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"RabbitMQ node exited with {self.proc.returncode}: "
                + (self.workdir / "rabbitmq.out").read_text(errors="replace")[-2000:]
            )
        conn = kombu.Connection(self.url("t0"), connect_timeout=2)
        try:
            conn.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False
        finally:
            conn.release()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGKILL)

    def restart(self, pause: float = 1.0) -> None:
        self.kill()
        time.sleep(pause)
        self.start()


class RabbitMQBroker:
    """One test's view of a shared ``RabbitMQNode``: its own vhost, the node's restart."""

    kind = "rabbitmq"

    def __init__(self, node: RabbitMQNode):
        self.node = node
        self.url = node.url(node.vhost())

    def restart(self, pause: float = 1.0) -> None:
        self.node.restart(pause)


def _rabbit_password_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def queue_depth(url: str, queue: str = "celery") -> int:
    """Messages ready in ``queue`` (not counting those delivered and unacknowledged), on either
    broker, through kombu; 0 when the queue does not exist yet."""
    with kombu.Connection(url, connect_timeout=5) as conn:
        try:
            return conn.default_channel.queue_declare(queue, passive=True).message_count
        except conn.channel_errors:
            return 0


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

    def dispatch_once(self, timeout: float = 60) -> int:
        """One sweep of ``reminders.dispatch_due`` in a process of its own with this cluster's
        settings (claims the due rows and publishes their delivery tasks), without a worker."""
        done = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from reminders.tasks import dispatch_due; print(dispatch_due())",
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return int(done.stdout.split()[-1])

    def deliveries(self) -> list[int]:
        return [int(line.split()[0]) for line in self.record.read_text().splitlines() if line]

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        """Kills every process at the end of a test: what the test checks is asserted by then,
        and a warm shutdown (each worker finishing its tasks, a few seconds per test) is not
        under test here."""
        for proc in reversed(self.procs):
            stop(proc, signal.SIGKILL)
