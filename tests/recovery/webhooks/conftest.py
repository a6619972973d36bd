"""A real HTTP receiver for the webhook tests: a ThreadingHTTPServer on a free port in a
thread, recording every request and checking its signature with its own code (not the
project's), as a clinic's receiver would."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recovery.webhooks.services import webhook_endpoint_create
from tests.factories import StaffFactory
from tests.reminders.procs import free_port


def signature_ok(secret: str, headers, body: bytes, *, tolerance=300) -> bool:
    message_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    given = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, g) for g in given)


class Receiver:
    """``answers``: status codes (or ``("sleep", seconds)``) to answer with, in order; 200 when
    none is left."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "json": json.loads(body),
                            "answered": answer,
                        }
                    )
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def closed_port_url():
    """A port nothing listens on: the receiver is down."""
    return f"http://127.0.0.1:{free_port()}/hooks"


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def make_endpoint(clinic_admin):
    def make(url, event_types=("check_in.recorded",), admin=None):
        admin = admin or clinic_admin
        endpoint, secret = webhook_endpoint_create(
            actor=admin, clinic_id=admin.clinic_id, url=url, event_types=list(event_types)
        )
        return endpoint, secret

    return make


@pytest.fixture(autouse=True)
def _fast_webhooks(settings):
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1.0
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    settings.WEBHOOK_REQUIRE_HTTPS = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on 127.0.0.1
