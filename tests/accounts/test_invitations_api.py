"""Onboarding through the API: ``/api/v1/invitations/`` for the clinic's staff and
``/api/v1/auth/activate/`` for the patient, for every role, with scope, expiry, resend, revoke and
replay."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, PHIAccess, User
from config.errors import DomainError
from tests.accounts.helpers import link_in
from tests.accounts.test_auth_api import assert_error, login
from tests.factories import ClinicFactory, StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/invitations/"
ACTIVATE = "/api/v1/auth/activate/"
GOOD_PASSWORD = "a-good-new-password-7"


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def pt(clinic):
    return StaffFactory(clinic=clinic, role="physical_therapist")


@pytest.fixture
def foreign_surgeon(db):
    return StaffFactory(clinic=ClinicFactory(), role="surgeon")


def body(**extra):
    return {
        "email": "ann.lee@example.test",
        "first_name": "Ann",
        "last_name": "Lee",
        "date_of_birth": "1961-03-04",
        **extra,
    }


def invite(api, user, capture, **extra):
    with capture(execute=True):
        return api(user).post(URL, body(**extra), format="json")


def token_of(message) -> str:
    return link_in(message.body, "activate")["token"]


@pytest.fixture
def sent(api, clinic_admin, surgeon, nurse, django_capture_on_commit_callbacks):
    """An invitation by the clinic admin, with the surgeon and the nurse on the team."""
    response = invite(
        api,
        clinic_admin,
        django_capture_on_commit_callbacks,
        surgeon=surgeon.pk,
        care_team=[nurse.pk],
        phone="+1 (555) 010-2030",
        time_zone="Europe/Berlin",
        mrn="MRN-AL-1",
    )
    assert response.status_code == 201, response.json()
    return Invitation.objects.get(pk=response.json()["id"]), token_of(mail.outbox[-1])


# --- inviting ----------------------------------------------------------------------------------


def test_clinic_admin_invites_with_profile_surgeon_team_zone_and_phone(sent, surgeon, nurse):
    invitation, token = sent
    profile = invitation.patient
    assert (profile.surgeon, profile.time_zone, profile.phone, profile.mrn) == (
        surgeon,
        "Europe/Berlin",
        "+1 (555) 010-2030",
        "MRN-AL-1",
    )
    assert set(profile.care_team.all()) == {surgeon, nurse}
    assert not profile.user.is_active and not profile.user.has_usable_password()
    message = mail.outbox[-1]
    assert message.to == ["ann.lee@example.test"]
    assert invitation.clinic.name in message.subject
    assert f"realign://activate?token={token}" in message.body
    assert invitation.code_hash != token and token not in invitation.code_hash  # stored hashed
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


def test_the_answer_never_carries_the_token(
    api, surgeon, django_capture_on_commit_callbacks, settings
):
    settings.APP_LINK_BASE = "https://app.realign.example/"
    response = invite(api, surgeon, django_capture_on_commit_callbacks)
    assert response.status_code == 201
    token = link_in(mail.outbox[-1].body, "activate")["token"]
    assert "https://app.realign.example/activate?token=" in mail.outbox[-1].body
    assert token not in response.content.decode()
    assert response.json()["status"] == "pending"


def test_surgeon_invites_defaults_to_the_clinic_zone_and_joins_the_team(
    api, surgeon, clinic, django_capture_on_commit_callbacks
):
    response = invite(api, surgeon, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.json()
    profile = Invitation.objects.get().patient
    assert profile.time_zone == clinic.time_zone
    assert list(profile.care_team.all()) == [surgeon]  # so they keep seeing what they sent
    assert api(surgeon).get(f"{URL}{response.json()['id']}/").status_code == 200


@pytest.mark.parametrize("role", ["nurse", "pt", "patient", "foreign_surgeon_no_clinic"])
def test_others_may_not_invite(api, role, nurse, pt, patient, db):
    user = {
        "nurse": nurse,
        "pt": pt,
        "patient": patient.user,
        "foreign_surgeon_no_clinic": User.objects.create_user(
            email="loose@example.test", password="x-x-x-x-x-x-x", role="surgeon"
        ),
    }[role]
    assert_error(api(user).post(URL, body(), format="json"), 403, "permission_denied")
    assert not Invitation.objects.exists()
    assert not User.objects.filter(email="ann.lee@example.test").exists()


def test_anonymous_is_401(api):
    assert_error(api(None).post(URL, body(), format="json"), 401)
    assert_error(api(None).get(URL), 401)


def test_surgeon_and_team_from_another_clinic_are_refused(
    api, clinic_admin, foreign_surgeon, nurse, patient
):
    client = api(clinic_admin)
    assert_error(
        client.post(URL, body(surgeon=foreign_surgeon.pk), format="json"),
        400,
        "does_not_exist",
        "surgeon",
    )
    assert_error(
        client.post(URL, body(care_team=[nurse.pk, foreign_surgeon.pk]), format="json"),
        400,
        "does_not_exist",
        "care_team",
    )
    # A nurse is not a surgeon; a patient or the clinic admin is not a clinician.
    assert_error(client.post(URL, body(surgeon=nurse.pk), format="json"), 400, attr="surgeon")
    assert_error(
        client.post(URL, body(care_team=[patient.user.pk]), format="json"), 400, attr="care_team"
    )
    assert_error(
        client.post(URL, body(care_team=[clinic_admin.pk]), format="json"), 400, attr="care_team"
    )
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    ("extra", "attr", "code"),
    [
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "invalid_time_zone"),
        ({"phone": "call me maybe"}, "phone", "invalid_phone"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "invalid"),
        ({"surgeon": "7"}, "surgeon", "invalid"),
        ({"is_active": True}, "is_active", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, clinic_admin, extra, attr, code):
    assert_error(api(clinic_admin).post(URL, body(**extra), format="json"), 400, code, attr)
    assert not Invitation.objects.exists()


def test_an_email_already_taken_is_a_400(api, clinic_admin, patient):
    response = api(clinic_admin).post(URL, body(email=patient.user.email.upper()), format="json")
    assert_error(response, 400, attr="email")
    assert Invitation.objects.count() == 0


# --- activating ---------------------------------------------------------------------------------


def test_activation_returns_tokens_and_is_single_use(api, sent):
    invitation, token = sent
    response = api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    me = api(None)
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.get("/api/v1/me/").json()["email"] == "ann.lee@example.test"
    assert login(api, "ann.lee@example.test", GOOD_PASSWORD).status_code == 200
    invitation.refresh_from_db()
    assert invitation.status() == "accepted"
    # Replayed, with another password: refused, and the password stays the patient's.
    replay = api(None).post(
        ACTIVATE, {"token": token, "password": "an-attacker-pw-99"}, format="json"
    )
    assert_error(replay, 400, "invitation_used", "token")
    assert login(api, "ann.lee@example.test", "an-attacker-pw-99").status_code == 401


def test_the_earlier_field_name_code_still_works(api, sent):
    _, token = sent
    response = api(None).post(ACTIVATE, {"code": token, "password": GOOD_PASSWORD}, format="json")
    assert response.status_code == 200
    both = api(None).post(
        ACTIVATE, {"code": token, "token": token, "password": GOOD_PASSWORD}, format="json"
    )
    assert_error(both, 400, attr="token")
    assert_error(api(None).post(ACTIVATE, {"password": GOOD_PASSWORD}, format="json"), 400)


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("8412937561", "entirely numeric"),
        ("ann.lee@example", "too similar"),
    ],
)
def test_weak_passwords_are_400_with_the_validator_message(api, sent, password, fragment):
    invitation, token = sent
    response = api(None).post(ACTIVATE, {"token": token, "password": password}, format="json")
    errors = assert_error(response, 400, attr="password")["errors"]
    assert any(fragment in e["detail"] for e in errors), errors
    invitation.refresh_from_db()
    assert invitation.accepted_at is None  # the link still works with a good password
    assert not User.objects.get(email="ann.lee@example.test").is_active
    assert (
        api(None)
        .post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
        .status_code
        == 200
    )


def test_expiry_with_a_shifted_clock(api, sent, time_machine, settings):
    invitation, token = sent
    time_machine.move_to(invitation.expires_at - timedelta(seconds=5))
    assert api(invitation.created_by).get(f"{URL}?status=pending").json()["results"]
    time_machine.move_to(invitation.expires_at + timedelta(seconds=1))
    response = api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
    assert_error(response, 400, "invitation_expired", "token")
    listed = api(invitation.created_by).get(f"{URL}?status=expired").json()["results"]
    assert [(i["id"], i["status"]) for i in listed] == [(invitation.pk, "expired")]
    assert not User.objects.get(email="ann.lee@example.test").is_active


def test_expiry_follows_the_setting(api, surgeon, settings, django_capture_on_commit_callbacks):
    settings.INVITATION_TTL = timedelta(days=2)
    invite(api, surgeon, django_capture_on_commit_callbacks)
    invitation = Invitation.objects.get()
    assert invitation.expires_at - invitation.created_at == timedelta(days=2)


def test_unknown_and_garbage_tokens(api):
    for token in ("nope", "x" * 100, "' OR 1=1 --"):
        response = api(None).post(
            ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json"
        )
        assert_error(response, 400, "invalid_invitation", "token")
    assert_error(
        api(None).post(ACTIVATE, {"token": "x" * 101, "password": GOOD_PASSWORD}, format="json"),
        400,
        attr="token",
    )


def test_activation_is_rate_limited(api, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(
        ScopedRateThrottle,
        "THROTTLE_RATES",
        {**ScopedRateThrottle.THROTTLE_RATES, "activation": "2/min"},
    )
    for _ in range(2):
        api(None).post(ACTIVATE, {"token": "guess", "password": GOOD_PASSWORD}, format="json")
    response = api(None).post(
        ACTIVATE, {"token": "guess", "password": GOOD_PASSWORD}, format="json"
    )
    assert_error(response, 429, "throttled")


# --- resend and revoke --------------------------------------------------------------------------


def test_resend_issues_a_new_link_and_the_old_one_dies(
    api, sent, surgeon, django_capture_on_commit_callbacks, time_machine
):
    invitation, old = sent
    time_machine.move_to(timezone.now() + timedelta(days=6))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(surgeon).post(f"{URL}{invitation.pk}/resend/")
    assert response.status_code == 200, response.json()
    assert response.json()["send_count"] == 2
    new = token_of(mail.outbox[-1])
    assert new != old
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6, hours=23)
    dead = api(None).post(ACTIVATE, {"token": old, "password": GOOD_PASSWORD}, format="json")
    assert_error(dead, 400, "invalid_invitation")
    ok = api(None).post(ACTIVATE, {"token": new, "password": GOOD_PASSWORD}, format="json")
    assert ok.status_code == 200


def test_resend_of_an_expired_invitation_makes_it_pending(
    api, sent, clinic_admin, time_machine, django_capture_on_commit_callbacks
):
    invitation, _ = sent
    time_machine.move_to(invitation.expires_at + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(clinic_admin).post(f"{URL}{invitation.pk}/resend/")
    assert response.json()["status"] == "pending"
    token = token_of(mail.outbox[-1])
    ok = api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
    assert ok.status_code == 200


def test_revoke_kills_the_link_and_resend_reopens_it(
    api, sent, clinic_admin, django_capture_on_commit_callbacks
):
    invitation, token = sent
    response = api(clinic_admin).post(f"{URL}{invitation.pk}/revoke/")
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    refused = api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
    assert_error(refused, 400, "invitation_revoked", "token")
    # Revoking again changes nothing.
    again = api(clinic_admin).post(f"{URL}{invitation.pk}/revoke/").json()
    assert again["revoked_at"] == response.json()["revoked_at"]
    with django_capture_on_commit_callbacks(execute=True):
        reopened = api(clinic_admin).post(f"{URL}{invitation.pk}/resend/")
    assert reopened.json()["status"] == "pending"
    assert_error(
        api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json"),
        400,
        "invalid_invitation",
    )
    fresh = token_of(mail.outbox[-1])
    assert (
        api(None)
        .post(ACTIVATE, {"token": fresh, "password": GOOD_PASSWORD}, format="json")
        .status_code
        == 200
    )


def test_an_accepted_invitation_cannot_be_resent_or_revoked(api, sent, clinic_admin):
    invitation, token = sent
    api(None).post(ACTIVATE, {"token": token, "password": GOOD_PASSWORD}, format="json")
    for action in ("resend", "revoke"):
        response = api(clinic_admin).post(f"{URL}{invitation.pk}/{action}/")
        assert_error(response, 400, "invitation_accepted")
    invitation.refresh_from_db()
    assert invitation.send_count == 1 and invitation.revoked_at is None


def test_who_may_resend_revoke_and_read(
    api, sent, surgeon, nurse, pt, patient, other_patient, foreign_surgeon, clinic
):
    invitation, _ = sent
    foreign_admin = StaffFactory(clinic=foreign_surgeon.clinic, role="clinic_admin")
    outsider_surgeon = other_patient.surgeon  # same clinic, not on this patient's team
    detail = f"{URL}{invitation.pk}/"
    # The care team reads it; the nurse may not manage it.
    assert api(nurse).get(detail).status_code == 200
    for action in ("resend", "revoke"):
        assert_error(api(nurse).post(f"{detail}{action}/"), 403, "permission_denied")
    # Outside the scope it does not exist.
    for user in (outsider_surgeon, foreign_surgeon, foreign_admin, pt):
        assert_error(api(user).get(detail), 404)
        for action in ("resend", "revoke"):
            assert_error(api(user).post(f"{detail}{action}/"), 404)
        assert api(user).get(URL).json()["results"] == []
    # Patients manage no invitations, not even their own.
    assert_error(api(patient.user).get(URL), 403)
    assert_error(api(patient.user).post(f"{detail}revoke/"), 403)
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and invitation.send_count == 1


def test_list_is_scoped_filtered_and_logged(
    api, sent, surgeon, clinic, django_capture_on_commit_callbacks
):
    invitation, _ = sent
    other_surgeon = StaffFactory(clinic=clinic, role="surgeon")
    theirs = invite(
        api, other_surgeon, django_capture_on_commit_callbacks, email="bo@example.test"
    ).json()
    ids = [i["id"] for i in api(surgeon).get(URL).json()["results"]]
    assert ids == [invitation.pk]  # not the colleague's patient
    admin_ids = [i["id"] for i in api(invitation.created_by).get(URL).json()["results"]]
    assert admin_ids == [theirs["id"], invitation.pk]  # the clinic admin sees both, newest first
    assert api(surgeon).get(f"{URL}?status=accepted").json()["results"] == []
    assert_error(api(surgeon).get(f"{URL}?status=lost"), 400, attr="status")
    rows = PHIAccess.objects.filter(user=surgeon, resource="invitations", action="list")
    assert {r.patient_id for r in rows} == {invitation.patient_id}


def test_retrieve_resend_and_revoke_answers_are_logged(api, sent, clinic_admin):
    invitation, _ = sent
    client = api(clinic_admin)
    client.get(f"{URL}{invitation.pk}/")
    client.post(f"{URL}{invitation.pk}/resend/")
    client.post(f"{URL}{invitation.pk}/revoke/")
    rows = PHIAccess.objects.filter(resource="invitations", object_id=str(invitation.pk))
    assert sorted((r.action, r.patient_id, r.user_id) for r in rows) == sorted(
        (a, invitation.patient_id, clinic_admin.pk) for a in ("retrieve", "resend", "revoke")
    )
    # A 404 writes nothing.
    before = PHIAccess.objects.count()
    api(StaffFactory(clinic=ClinicFactory(), role="clinic_admin")).get(f"{URL}{invitation.pk}/")
    assert PHIAccess.objects.count() == before


def test_list_query_count_does_not_grow_with_rows(
    api, clinic_admin, surgeon, nurse, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            services.patient_invite(
                clinic=clinic_admin.clinic,
                invited_by=clinic_admin,
                email=f"p{n}-{i}@example.test",
                first_name="P",
                last_name=str(i),
                date_of_birth=timezone.localdate() - timedelta(days=20000),
                surgeon=surgeon,
                care_team=(nurse,),
            )

    client = api(clinic_admin)
    add(2)
    # The caller, the page (invitation, patient, user, surgeon, sender joined), the clinics of
    # the page's patients and the PHI log insert: four, for 2 rows as for 32.
    with django_assert_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 2
    add(30)
    with django_assert_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 32


# --- concurrency: two activations of one token --------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_activations_cannot_both_win(clinic, surgeon):
    _, token = services.patient_invite(
        clinic=clinic,
        invited_by=surgeon,
        email="race@example.test",
        first_name="R",
        last_name="Ace",
        date_of_birth=timezone.localdate() - timedelta(days=15000),
    )
    barrier = threading.Barrier(4)
    outcomes = []

    def worker(i):
        try:
            barrier.wait()
            services.invitation_activate(token=token, password=f"racing-password-{i}-x")
            outcomes.append(("ok", i))
        except DomainError as exc:
            outcomes.append((exc.code, i))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in outcomes) == ["invitation_used"] * 3 + ["ok"]
    (winner,) = [i for code, i in outcomes if code == "ok"]
    user = User.objects.get(email="race@example.test")
    assert user.check_password(f"racing-password-{winner}-x")


def test_a_foreign_cursor_is_a_400(api, sent, clinic_admin):
    assert_error(api(clinic_admin).get(f"{URL}?cursor=bm9wZQ"), 400, "invalid_cursor", "cursor")
