import json

import firebase_admin
import pytest
import requests
from firebase_admin import credentials, messaging
from google.auth.credentials import AnonymousCredentials

from reminders.channels import push, reset_channels


class FakeCredential(credentials.Base):
    def get_credential(self):
        return AnonymousCredentials()


class FakeFCMTransport(requests.adapters.BaseAdapter):
    """The transport under firebase-admin: every request the real library builds lands here.
    Queue answers with ``answer(status, body)`` or ``fail(exception)``; default is 200."""

    def __init__(self):
        super().__init__()
        self.requests: list[dict] = []
        self.answers: list = []

    def answer(self, status=200, body=None):
        self.answers.append((status, body))

    def fail(self, exc):
        self.answers.append(exc)

    def unregistered(self):
        self.answer(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"))

    def send(self, request, **kwargs):
        self.requests.append(
            {"url": request.url, "timeout": kwargs.get("timeout"), "json": json.loads(request.body)}
        )
        answer = self.answers.pop(0) if self.answers else (200, None)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        response = requests.Response()
        response.status_code = status
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(
            body
            if body is not None
            else {"name": f"projects/realign-test/messages/{len(self.requests)}"}
        ).encode()
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def fcm_error(code, status, fcm_code=None):
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
        if fcm_code
        else []
    )
    return {
        "error": {"code": code, "message": status.lower(), "status": status, "details": details}
    }


@pytest.fixture
def fcm(settings):
    """A real firebase-admin app whose HTTP transport is the fake above."""
    settings.FCM_PROJECT_ID = "realign-test"
    app = push.fcm_app(credential=FakeCredential())
    transport = FakeFCMTransport()
    service = messaging._get_messaging_service(app)
    service._client.session.mount("https://fcm.googleapis.com", transport)
    yield transport
    firebase_admin.delete_app(app)


@pytest.fixture(autouse=True)
def _fresh_channels():
    reset_channels()
    yield
    reset_channels()
