from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, User
from tests.accounts.helpers import link_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"


def assert_error(response, status, code=None, attr=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] in {"validation_error", "client_error"}
    assert isinstance(body["errors"], list) and body["errors"]
    if code is not None:
        assert code in [e["code"] for e in body["errors"]], body
    if attr is not None:
        assert attr in [e["attr"] for e in body["errors"]], body
    return body


def login(api, email, password=PASSWORD, **extra):
    return api(None).post(TOKEN_URL, {"email": email, "password": password}, format="json", **extra)


def test_login_returns_tokens_and_email_is_case_insensitive(api, patient):
    response = login(api, patient.user.email.upper())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    me = api(None)
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.get("/api/v1/me/").json()["email"] == patient.user.email


def test_wrong_password_is_401_in_the_error_shape(api, patient):
    assert_error(login(api, patient.user.email, "wrong-password"), 401, "authentication_failed")


def test_unknown_fields_and_malformed_json_are_400(api, patient):
    client = api(None)
    response = client.post(
        TOKEN_URL, {"email": patient.user.email, "password": PASSWORD, "admin": True}, format="json"
    )
    assert_error(response, 400, attr="admin")
    response = client.post(TOKEN_URL, data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_repeated_failures_lock_the_account_from_that_address(api, patient, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        assert login(api, patient.user.email, "nope-nope-nope").status_code in (401, 429)
    # Even the right password is refused now, from this address...
    assert_error(login(api, patient.user.email), 429, "locked_out")
    # ...but the same account from another address, and another account here, still work.
    assert login(api, patient.user.email, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_lockout_ends_after_the_cool_off(api, patient, settings, time_machine):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        login(api, patient.user.email, "nope-nope-nope")
    assert login(api, patient.user.email).status_code == 429
    time_machine.move_to(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5))
    assert login(api, patient.user.email).status_code == 200


@pytest.mark.parametrize(
    ("scope", "url", "body"),
    [
        ("login", TOKEN_URL, {"email": "nobody@example.test", "password": "x"}),
        (
            "activation",
            "/api/v1/auth/activate/",
            {"code": "nope", "password": "a-good-new-password"},
        ),
        ("password_reset", "/api/v1/auth/password/reset/", {"email": "nobody@example.test"}),
    ],
)
def test_auth_endpoints_are_rate_limited(api, monkeypatch, scope, url, body):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, scope: "3/min"}
    )
    codes = [api(None).post(url, body, format="json").status_code for _ in range(4)]
    assert 429 not in codes[:3]
    body = assert_error(api(None).post(url, body, format="json"), 429, "throttled")
    assert body["type"] == "client_error"


@pytest.mark.redis
def test_rate_limit_is_shared_through_redis(api, patient):
    from rest_framework.throttling import ScopedRateThrottle

    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {**original, "password_reset": "2/min"}
    try:
        codes = [
            api(None)
            .post("/api/v1/auth/password/reset/", {"email": "x@y.test"}, format="json")
            .status_code
            for _ in range(3)
        ]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert codes == [202, 202, 429]
    from django.core.cache import cache

    assert type(cache._cache).__name__ == "RedisCacheClient"


def test_refresh_rotates_and_blacklists_the_old_token(api, patient):
    first = login(api, patient.user.email).json()
    response = api(None).post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    # The old refresh token no longer works; the new one does.
    assert_error(api(None).post(REFRESH_URL, {"refresh": first["refresh"]}, format="json"), 401)
    assert (
        api(None).post(REFRESH_URL, {"refresh": second["refresh"]}, format="json").status_code
        == 200
    )


def test_refresh_with_garbage_is_401(api):
    assert_error(api(None).post(REFRESH_URL, {"refresh": "abc.def.ghi"}, format="json"), 401)


def test_logout_blacklists_the_refresh_token(api, patient):
    tokens = login(api, patient.user.email).json()
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert (
        client.post(
            "/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json"
        ).status_code
        == 204
    )
    assert_error(api(None).post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_logout_refuses_someone_elses_token(api, patient, other_patient):
    theirs = login(api, other_patient.user.email).json()
    response = api(patient.user).post(
        "/api/v1/auth/logout/", {"refresh": theirs["refresh"]}, format="json"
    )
    assert_error(response, 400, "token_not_valid")


def test_password_change_revokes_every_token(api, patient):
    tokens = login(api, patient.user.email).json()
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    response = client.post(
        "/api/v1/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "a-brand-new-secret-42"},
        format="json",
    )
    assert response.status_code == 200
    fresh = response.json()
    # The old access and refresh tokens stop working at once.
    assert client.get("/api/v1/me/").status_code == 401
    assert_error(api(None).post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json"), 401)
    # The pair handed back with the change works.
    new_client = api(None)
    new_client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert new_client.get("/api/v1/me/").status_code == 200


def test_access_token_expires_after_five_minutes(api, patient, time_machine):
    tokens = login(api, patient.user.email).json()
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/v1/me/").status_code == 200
    time_machine.move_to(timezone.now() + timedelta(minutes=5, seconds=5))
    assert client.get("/api/v1/me/").status_code == 401


def _invite(clinic, surgeon, email="new.patient@example.test"):
    return services.patient_invite(
        clinic=clinic,
        invited_by=surgeon,
        email=email,
        first_name="New",
        last_name="Patient",
        date_of_birth=date(1980, 1, 2),
        time_zone="Europe/Berlin",
        surgeon=surgeon,
    )


def test_invitation_activation_flow(api, clinic, surgeon, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _, code = _invite(clinic, surgeon)
    assert len(mail.outbox) == 1 and code in mail.outbox[0].body
    assert Invitation.objects.get().code_hash != code  # stored hashed
    assert login(api, "new.patient@example.test", "a-good-new-password").status_code == 401

    response = api(None).post(
        "/api/v1/auth/activate/", {"code": code, "password": "a-good-new-password"}, format="json"
    )
    assert response.status_code == 200 and "access" in response.json()
    assert login(api, "new.patient@example.test", "a-good-new-password").status_code == 200
    # Single use.
    again = api(None).post(
        "/api/v1/auth/activate/", {"code": code, "password": "another-pass-123"}, format="json"
    )
    assert_error(again, 400, "invitation_used")


def test_expired_invitation_is_refused_and_nothing_changes(api, clinic, surgeon, time_machine):
    _, code = _invite(clinic, surgeon)
    time_machine.move_to(timezone.now() + timedelta(days=7, minutes=1))
    response = api(None).post(
        "/api/v1/auth/activate/", {"code": code, "password": "a-good-new-password"}, format="json"
    )
    assert_error(response, 400, "invitation_expired")
    user = User.objects.get(email="new.patient@example.test")
    assert not user.is_active and not user.has_usable_password()


def test_activation_with_a_weak_password_writes_nothing(api, clinic, surgeon):
    invitation, code = _invite(clinic, surgeon)
    response = api(None).post(
        "/api/v1/auth/activate/", {"code": code, "password": "123"}, format="json"
    )
    assert_error(response, 400, attr="password")
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    assert not User.objects.get(email="new.patient@example.test").is_active


def test_unknown_invitation_code(api):
    response = api(None).post(
        "/api/v1/auth/activate/", {"code": "nope", "password": "a-good-new-password"}, format="json"
    )
    assert_error(response, 400, "invalid_invitation")


def test_email_differing_only_in_case_is_refused(clinic, surgeon, patient):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        _invite(clinic, surgeon, email=patient.user.email.upper())
    assert User.objects.filter(email__iexact=patient.user.email).count() == 1


def test_password_reset_flow(api, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(None).post(
            "/api/v1/auth/password/reset/", {"email": patient.user.email}, format="json"
        )
    assert response.status_code == 202
    body = mail.outbox[0].body
    assert "uid:" not in body  # a link to open, nothing to type
    params = link_in(body, "reset-password")
    uid, token = params["uid"], params["token"]
    old = login(api, patient.user.email).json()
    response = api(None).post(
        "/api/v1/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "password": "reset-to-this-one-9"},
        format="json",
    )
    assert response.status_code == 204
    assert login(api, patient.user.email, "reset-to-this-one-9").status_code == 200
    assert_error(api(None).post(REFRESH_URL, {"refresh": old["refresh"]}, format="json"), 401)
    # The token is single use: the password it was made for has changed.
    again = api(None).post(
        "/api/v1/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "password": "and-again-this-one-9"},
        format="json",
    )
    assert_error(again, 400, "invalid_reset_token")


def test_password_reset_for_unknown_email_says_the_same(api):
    response = api(None).post(
        "/api/v1/auth/password/reset/", {"email": "ghost@example.test"}, format="json"
    )
    assert response.status_code == 202
    assert mail.outbox == []


def test_me_patch_changes_preferences_only(api, patient):
    client = api(patient.user)
    response = client.patch(
        "/api/v1/me/", {"time_zone": "Europe/Berlin", "checkin_time": "20:30"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["patient_profile"]["time_zone"] == "Europe/Berlin"
    assert_error(
        client.patch("/api/v1/me/", {"time_zone": "Mars/Olympus"}, format="json"),
        400,
        "invalid_time_zone",
    )
    assert_error(client.patch("/api/v1/me/", {"mrn": "X"}, format="json"), 400, attr="mrn")
    assert_error(client.patch("/api/v1/me/", {"surgeon": 1}, format="json"), 400, attr="surgeon")
    patient.refresh_from_db()
    assert patient.time_zone == "Europe/Berlin"


def test_clinician_cannot_patch_me(api, surgeon):
    assert_error(api(surgeon).patch("/api/v1/me/", {"time_zone": "UTC"}, format="json"), 403)


def test_anonymous_me_is_401(api):
    assert_error(api(None).get("/api/v1/me/"), 401)


def test_inactive_invited_patient_cannot_log_in(api, clinic, surgeon):
    _invite(clinic, surgeon)
    assert login(api, "new.patient@example.test", "").status_code == 400
    assert login(api, "new.patient@example.test", "anything-at-all").status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_cannot_both_win(patient):
    """Two devices (or a retry) refresh the same token at once: exactly one gets a new pair."""
    import threading

    from django.db import connection

    from accounts.tokens import refresh_rotate, tokens_for
    from config.api.errors import DomainError

    raw = tokens_for(patient.user)["refresh"]
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        barrier.wait()
        try:
            refresh_rotate(raw=raw)
            outcomes.append("ok")
        except DomainError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]


# --- two-factor sign-in (the admin's authenticator app) -----------------------------------------


def _code(device) -> str:
    from django_otp.oath import TOTP

    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():0{device.digits}d}"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture
def enrolled(surgeon):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=surgeon, name="app", confirmed=True)


def test_staff_with_an_authenticator_give_its_code_to_get_tokens(api, surgeon, enrolled):
    assert_error(login(api, surgeon.email), 401, "otp_required", attr="otp")
    assert_error(
        api(None).post(
            TOKEN_URL,
            {"email": surgeon.email, "password": PASSWORD, "otp": _wrong(_code(enrolled))},
        ),
        401,
        "otp_invalid",
        attr="otp",
    )
    assert_error(
        api(None).post(TOKEN_URL, {"email": surgeon.email, "password": PASSWORD, "otp": "12ab"}),
        400,
        attr="otp",
    )
    # django-otp throttles the device for a moment after a wrong code (its own tests cover that).
    enrolled.refresh_from_db()
    enrolled.throttle_reset()
    response = api(None).post(
        TOKEN_URL, {"email": surgeon.email, "password": PASSWORD, "otp": _code(enrolled)}
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    # The code is not checked before the password: a wrong password says nothing about it.
    assert_error(
        api(None).post(
            TOKEN_URL, {"email": surgeon.email, "password": "wrong-one", "otp": _code(enrolled)}
        ),
        401,
        "authentication_failed",
    )


def test_a_clinic_requiring_two_factor_gives_staff_without_a_device_no_tokens(
    api, clinic, surgeon, patient
):
    clinic.require_two_factor = True
    clinic.save(update_fields=["require_two_factor"])
    assert_error(login(api, surgeon.email), 403, "two_factor_enrolment_required")
    assert login(api, patient.user.email).status_code == 200  # patients sign in with their password


def test_wrong_codes_count_toward_the_lockout(api, surgeon, enrolled, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        body = {"email": surgeon.email, "password": PASSWORD, "otp": _wrong(_code(enrolled))}
        assert api(None).post(TOKEN_URL, body).status_code == 401
    body = {"email": surgeon.email, "password": PASSWORD, "otp": _code(enrolled)}
    assert_error(api(None).post(TOKEN_URL, body), 429, "locked_out")


def test_an_access_token_is_decoded_once_per_process_and_its_expiry_checked_each_time(
    api, patient, time_machine, monkeypatch
):
    """``JWTAuthentication.get_validated_token``: the same token's later requests skip the
    decoding (a phone's every request carries it), but not the expiry, nor the user's checks."""
    from rest_framework_simplejwt.state import token_backend

    decoded = []
    real_decode = token_backend.decode
    monkeypatch.setattr(
        token_backend, "decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k)
    )
    access = login(api, patient.user.email).json()["access"]
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200
    assert len(decoded) == 1
    # Another token's bytes (the signature changed) are validated on their own, and refused.
    forged = api(None)
    forged.credentials(
        HTTP_AUTHORIZATION=f"Bearer {access[:-2]}{'A' if access[-2] != 'A' else 'B'}{access[-1]}"
    )
    assert forged.get("/api/v1/me/").status_code == 401
    # The user's checks still run on every request: a deactivated user's cached token is refused.
    patient.user.is_active = False
    patient.user.save(update_fields=["is_active"])
    assert client.get("/api/v1/me/").status_code == 401
    patient.user.is_active = True
    patient.user.save(update_fields=["is_active"])
    assert client.get("/api/v1/me/").status_code == 200
    time_machine.move_to(timezone.now() + timedelta(minutes=5, seconds=5))
    assert client.get("/api/v1/me/").status_code == 401


def test_a_process_first_request_sends_the_same_statements_as_the_next(api, patient, monkeypatch):
    """The user lookup is compiled at a process's first authenticated request without a
    transaction of its own: that request sends what every later one does (an empty
    BEGIN/COMMIT before, a savepoint pair inside a test's transaction)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.authentication import _USERS

    monkeypatch.delitem(_USERS.__dict__, "_compiled", raising=False)  # as in a fresh process
    client = api(patient.user)
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/me/").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/me/").status_code == 200
    assert [q["sql"] for q in first] == [q["sql"] for q in second]
