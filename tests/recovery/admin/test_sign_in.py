"""Clinician sign-in hardening: lockout, idle timeout, two-factor with a TOTP app."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def login(client, user, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": user.email, "password": password, **extra})


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


# --- lockout ---------------------------------------------------------------------------------


def test_admin_login_locks_out_after_repeated_failures(client, surgeon, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, surgeon, password="wrong-password-1")
        assert response.status_code == 200  # the form again
    locked = login(client, surgeon, password="wrong-password-1")
    assert locked.status_code == 429
    # Even the right password is refused while locked out.
    assert login(client, surgeon).status_code == 429
    assert client.get("/admin/").status_code == 302


def test_lockout_is_per_account(client, surgeon, nurse, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, surgeon, password="wrong-password-1")
    response = login(client, nurse)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_lockout_ends_after_the_cool_off(client, surgeon, settings):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            login(client, surgeon, password="wrong-password-1")
        assert login(client, surgeon).status_code == 429
        clock.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
        assert login(client, surgeon).status_code == 302


# --- idle timeout ----------------------------------------------------------------------------


def test_session_expires_after_inactivity_but_not_while_active(client, surgeon, settings):
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert login(client, surgeon).status_code == 302
        for _ in range(3):  # active: each request pushes the expiry forward
            clock.shift(idle - timedelta(minutes=1))
            assert client.get("/admin/").status_code == 200
        clock.shift(idle + timedelta(seconds=1))
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- two-factor ------------------------------------------------------------------------------


@pytest.fixture
def strict_clinic(clinic):
    clinic.require_two_factor = True
    clinic.save(update_fields=["require_two_factor"])
    return clinic


def test_mandatory_two_factor_sends_staff_to_enrolment_first(
    client, surgeon, patient, strict_clinic
):
    response = login(client, surgeon)
    assert response.status_code == 302
    # No admin page before enrolling: every one leads to the enrolment page.
    for path in (
        "/admin/",
        "/admin/recovery/painlog/",
        f"/admin/accounts/patientprofile/{patient.pk}/timeline/",
    ):
        first = client.get(path)
        assert first.status_code == 302 and first["Location"].startswith("/admin/login/"), path
        second = client.get(first["Location"])
        assert second.status_code == 302 and second["Location"].startswith("/admin/two-factor/"), (
            path
        )
    page = client.get("/admin/two-factor/")
    assert page.status_code == 200
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=surgeon, confirmed=False)
    assert "otpauth://totp/Realign" in html and "<svg" in html
    assert client.get("/admin/two-factor/").status_code == 200
    assert TOTPDevice.objects.filter(user=surgeon).count() == 1  # reused across reloads

    wrong = client.post(
        "/admin/two-factor/", {"token": "000000" if code_for(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    done = client.post("/admin/two-factor/", {"token": code_for(device), "next": "/admin/"})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get(f"/admin/accounts/patientprofile/{patient.pk}/timeline/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


@pytest.fixture
def enrolled(surgeon):
    return TOTPDevice.objects.create(user=surgeon, name="app", confirmed=True)


def test_login_with_a_device_needs_the_code(client, surgeon, enrolled):
    without = login(client, surgeon)
    assert without.status_code == 200
    assert "6-digit code" in without.content.decode()
    assert client.get("/admin/").status_code == 302
    with time_machine.travel(timezone.now(), tick=False) as clock:
        wrong = login(client, surgeon, otp_token="12345x")
        assert wrong.status_code == 200 and "not right" in wrong.content.decode()
        # django-otp throttles the device after a wrong code: right away, even the right code
        # is refused; after the back-off it is accepted.
        assert login(client, surgeon, otp_token=code_for(enrolled)).status_code == 200
        clock.shift(timedelta(seconds=10))
        ok = login(client, surgeon, otp_token=code_for(enrolled))
        assert ok.status_code == 302
        assert client.get("/admin/").status_code == 200


def test_wrong_codes_count_toward_the_lockout(client, surgeon, enrolled, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, surgeon, otp_token="000000x")
    assert login(client, surgeon, otp_token=code_for(enrolled)).status_code == 429


def test_password_session_of_an_enrolled_user_is_not_enough(client, surgeon, enrolled):
    client.force_login(surgeon)  # a session without device verification
    response = client.get("/admin/")
    assert response.status_code == 302
    assert client.get("/admin/two-factor/").status_code == 302  # to the login page, for the code


def test_clinics_without_the_requirement_allow_password_only(client, surgeon):
    assert login(client, surgeon).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_patients_cannot_enrol_or_sign_in(client, patient, strict_clinic):
    client.force_login(patient.user)
    response = client.get("/admin/two-factor/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not TOTPDevice.objects.exists()
