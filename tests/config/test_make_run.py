"""`make run` as a newcomer sees it: in a terminal, a quiet log, the right address, Ctrl-C stops
everything cleanly and make ends without an error."""

import os
import pty
import select
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.run import banner, base_url, read_procfile

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_ENV_DROP = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "REALIGN_MODE")


def test_banner_shows_the_bind_it_will_listen_on():
    assert base_url("127.0.0.1:8123") == "http://127.0.0.1:8123"
    assert base_url("0.0.0.0:9000") == "http://127.0.0.1:9000"
    assert base_url("[::1]:8000") == "http://[::1]:8000"
    text = banner("127.0.0.1:8123")
    assert "http://127.0.0.1:8123/admin/" in text
    assert ":8000" not in text
    assert "/api/v1/" not in text  # not a page: the banner links only what answers


def test_the_launcher_runs_the_procfile():
    assert set(read_procfile(ROOT / "Procfile")) == {"web", "worker", "beat"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Terminal:
    """A child process on a pseudo-terminal, as when a developer types the command."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)  # noqa: S606 - the command under test
        self.output = b""

    def read_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait(self, timeout: float) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read_for(0.5)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
        os.killpg(self.pid, signal.SIGKILL)
        raise AssertionError(f"did not stop in {timeout} s:\n{self.text()[-3000:]}")


def _get(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=5).status  # noqa: S310 - our own server
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.integration
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="needs make install")
def test_make_run_starts_quietly_and_ctrl_c_stops_it_cleanly(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in EMBEDDED_ENV_DROP}
    env |= {"GUNICORN_BIND": f"127.0.0.1:{port}", "REALIGN_VAR_DIR": str(tmp_path / "var")}
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    term = Terminal(["make", "run"], env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        term.read_for(1)
        if b"celery@" in term.output and b"ready." in term.output:
            try:
                if _get(f"{url}/healthz") == 200:
                    break
            except OSError:
                pass
    else:
        raise AssertionError(f"make run did not come up:\n{term.text()[-3000:]}")

    assert _get(f"{url}/") == 200  # redirected to the admin's login page
    assert _get(f"{url}/no-such-page") == 404
    term.read_for(2)
    started = time.monotonic()
    os.write(term.fd, b"\x03")  # Ctrl-C
    status = term.wait(timeout=30)
    stop_seconds = time.monotonic() - started
    log = term.text()

    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, log[-3000:]
    assert f"{url}/admin/" in log
    assert ":8000" not in log
    for noise in ("WARNING", "Warning", "ERROR", "Traceback", "Interrupt", "Error 130", "killed"):
        assert noise not in log, f"{noise!r} in the log:\n{log[-3000:]}"
    assert log.count("/no-such-page") == 1  # one access-log line, not two
    assert "stopped" in log
    assert stop_seconds < STOP_BUDGET, stop_seconds


# Celery's warm shutdown on the filesystem broker takes about 6 s (config/run.py); the rest is
# the budget of a loaded CI machine.
STOP_BUDGET = 25
