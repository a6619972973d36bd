"""``make run``: the embedded product in one terminal (web, worker and beat from the Procfile).

Why not honcho: a stop must be clean. Ctrl-C sends SIGTERM to each process's main pid only
(gunicorn's master and Celery's main process stop their own children; a signal to the whole
group made every pool process log an error), waits long enough for Celery's warm shutdown on
the filesystem broker (its blocking loop polls every 2 s, so it takes about 6 s), and exits 0.
``make`` would still report "Interrupt" for a Ctrl-C it received itself, so when the terminal
is ours the launcher takes its foreground and gives it back before it exits.

The same ``Procfile`` commands run in docker-compose (tests/config/test_platform.py).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIND = "127.0.0.1:8000"
# Seconds a process has to stop after SIGTERM before it is killed (and the stop reported).
STOP_GRACE = 20.0


def gunicorn_bind() -> str:
    """The address gunicorn listens on: config/gunicorn.conf.py reads the same."""
    return os.environ.get("GUNICORN_BIND", DEFAULT_BIND)


def base_url(bind: str) -> str:
    """A URL a browser on this machine can open for gunicorn's ``bind``."""
    if bind.startswith(("unix:", "fd://")):
        return bind
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - describing the bind, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def read_procfile(path: Path) -> dict[str, str]:
    """``name: command`` lines, in order (comments and blank lines skipped)."""
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def banner(bind: str) -> str:
    url = base_url(bind)
    return "\n".join(
        [
            "",
            f"  Admin:     {url}/admin/",
            f"  API docs:  {url}/api/docs/   (OpenAPI schema: {url}/api/schema/)",
            "  Ctrl-C stops web, worker and beat.",
            "",
        ]
    )


@dataclass
class Supervised:
    name: str
    command: str
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    killed: bool = False


class Supervisor:
    """Starts the processes, prefixes their output, stops them all when one stops or on a signal."""

    def __init__(self, processes: dict[str, str], *, out=sys.stdout):
        self.children = [Supervised(name, command) for name, command in processes.items()]
        self.width = max(len(name) for name in [*processes, "system"])
        self.out = out
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()

    def say(self, name: str, line: str) -> None:
        with self.lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {line}\n")
            self.out.flush()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The venv's gunicorn and celery, as `make run` always meant.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        for child in self.children:
            child.process = subprocess.Popen(  # noqa: S603 - the project's own Procfile
                shlex.split(child.command),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                start_new_session=True,  # the terminal's Ctrl-C reaches the launcher only
            )
            child.reader = threading.Thread(target=self._relay, args=(child,), daemon=True)
            child.reader.start()
            self.say("system", f"{child.name} started (pid {child.process.pid})")

    def _relay(self, child: Supervised) -> None:
        for line in child.process.stdout:
            self.say(child.name, line.rstrip("\n"))

    def wait(self) -> int:
        """Until a stop is requested or a process ends; then stop the rest. The exit status."""
        stopped_by_itself = None
        while not self.stop_requested.is_set():
            stopped_by_itself = next(
                (c for c in self.children if c.process.poll() is not None), None
            )
            if stopped_by_itself:
                self.say(
                    "system",
                    f"{stopped_by_itself.name} exited ({stopped_by_itself.process.returncode})",
                )
                break
            self.stop_requested.wait(0.2)
        self.stop()
        if stopped_by_itself or any(c.killed for c in self.children):
            return 1
        return 0

    def stop(self) -> None:
        running = [c for c in self.children if c.process.poll() is None]
        for child in running:
            self.say("system", f"stopping {child.name}")
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.killed = True
                self.say("system", f"{child.name} did not stop in {STOP_GRACE:.0f} s: killed")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        for child in self.children:
            child.reader.join(timeout=2)
        self.say("system", "stopped")


@contextlib.contextmanager
def terminal_foreground():
    """Make the launcher the terminal's foreground process group for the duration, so a Ctrl-C
    reaches it and not ``make`` (which would print "Interrupt" and exit 130 whatever we do)."""
    try:
        fd = sys.stdin.fileno()
        previous = os.tcgetpgrp(fd)
    except (OSError, ValueError):
        yield  # no terminal (CI, a pipe): signals come from whoever started us
        return
    os.setpgid(0, 0)
    _set_foreground(fd, os.getpgrp())
    try:
        yield
    finally:
        _set_foreground(fd, previous)


def _set_foreground(fd: int, pgrp: int) -> None:
    # A process that is not in the foreground group is stopped by SIGTTOU when it takes it.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgrp)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def main() -> int:
    supervisor = Supervisor(read_procfile(ROOT / "Procfile"))

    def request_stop(signum, frame):
        supervisor.stop_requested.set()

    with terminal_foreground():
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        print(banner(gunicorn_bind()), flush=True)
        supervisor.start()
        return supervisor.wait()


if __name__ == "__main__":
    sys.exit(main())
