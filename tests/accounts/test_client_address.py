"""The rate limits and the lockout key on the client's real address: with no proxy configured a
client cannot pick its own with X-Forwarded-For; behind one proxy the right-most entry counts."""

import pytest
from django.conf import settings as django_settings

from accounts.client_address import client_ip
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def configured_login_limit() -> int:
    rate = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
    return int(rate.split("/")[0])


def sign_in(api, email, password="wrong-password-here", **meta):  # noqa: S107 - a wrong one
    return api(None).post(TOKEN_URL, {"email": email, "password": password}, format="json", **meta)


def test_rotating_x_forwarded_for_does_not_escape_the_login_rate_limit(api):
    """One client, many accounts, a new forged X-Forwarded-For on every try: the configured
    limit still applies to the client's socket address."""
    limit = configured_login_limit()
    codes = [
        sign_in(
            api,
            f"victim{n % 8}@example.test",
            REMOTE_ADDR="198.51.100.20",
            HTTP_X_FORWARDED_FOR=f"10.0.{n // 250}.{n % 250 + 1}",
        ).status_code
        for n in range(limit + 3)
    ]
    assert 429 not in codes[:limit], codes
    assert codes[limit:] == [429, 429, 429], codes
    # Another client (another socket address) is not affected.
    assert sign_in(api, "victim0@example.test", REMOTE_ADDR="198.51.100.21").status_code == 401


def test_rotating_x_forwarded_for_does_not_escape_the_lockout(api, patient, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(
            api,
            patient.user.email,
            REMOTE_ADDR="198.51.100.30",
            HTTP_X_FORWARDED_FOR=f"10.1.1.{n + 1}",
        )
    response = sign_in(
        api,
        patient.user.email,
        PASSWORD,
        REMOTE_ADDR="198.51.100.30",
        HTTP_X_FORWARDED_FOR="10.1.1.99",
    )
    assert response.status_code == 429, response.content
    assert response.json()["errors"][0]["code"] == "locked_out"


def test_behind_one_proxy_the_right_most_forwarded_address_counts(api, settings, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    settings.REALIGN_PROXY_COUNT = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    monkeypatch.setattr(
        ScopedRateThrottle,
        "THROTTLE_RATES",
        {**ScopedRateThrottle.THROTTLE_RATES, "login": "3/min"},
    )
    proxy = "10.0.0.2"  # every request arrives from the proxy's socket
    # The client forges the left part; the proxy appends the address it saw (203.0.113.7).
    codes = [
        sign_in(
            api,
            "x@example.test",
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7",
        ).status_code
        for n in range(1, 5)
    ]
    assert codes == [401, 401, 401, 429], codes
    # Another client behind the same proxy has its own budget.
    assert (
        sign_in(
            api, "x@example.test", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.8"
        ).status_code
        == 401
    )


def test_behind_one_proxy_the_lockout_is_per_client_not_per_proxy(api, patient, settings):
    settings.REALIGN_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 2
    proxy = "10.0.0.2"
    for n in range(2):
        sign_in(
            api,
            patient.user.email,
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7",
        )
    locked = sign_in(
        api, patient.user.email, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    assert locked.status_code == 429
    # The patient on another network, through the same proxy, still signs in.
    ok = sign_in(
        api, patient.user.email, PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "198.51.100.1"),
        (0, "", "198.51.100.1"),
        (1, "192.0.2.1, 203.0.113.7", "203.0.113.7"),
        (1, "203.0.113.7", "203.0.113.7"),
        (2, "192.0.2.1, 203.0.113.7, 10.0.0.3", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),
        (1, "", "198.51.100.1"),
        (1, "192.0.2.1, not-an-address", "198.51.100.1"),
    ],
)
def test_client_ip(rf, settings, proxies, forwarded, expected):
    settings.REALIGN_PROXY_COUNT = proxies
    meta = {"REMOTE_ADDR": "198.51.100.1"}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(rf.get("/", **meta)) == expected
