"""Caregivers (proxies): a patient invites a caregiver by e-mail (``/api/v1/me/caregivers/``), the
caregiver activates an account of their own (``/api/v1/auth/activate/``), the grant is data with
a history, revocable; ``patients_for`` and the role rules honour its scopes."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.caregivers import caregiver_grant_revoke, caregiver_invite
from accounts.models import CaregiverGrant, CaregiverGrantEvent, PHIAccess, Role, User
from accounts.roles import is_staff_member
from accounts.selectors import patients_for
from config.errors import DomainError
from tests.accounts.helpers import CAREGIVER_PASSWORD, caregiver_of, link_in
from tests.accounts.test_auth_api import assert_error, login
from tests.factories import PASSWORD, PatientFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/caregivers/"
ACTIVATE = "/api/v1/auth/activate/"


def invite(api, patient, capture, **extra):
    data = {"email": "Ana.Ruiz@Example.test", "name": "Ana Ruiz", "scopes": ["read"], **extra}
    with capture(execute=True):
        return api(patient.user).post(URL, data, format="json")


def token_of(message) -> str:
    return link_in(message.body, "activate")["token"]


def test_invite_activate_and_sign_in(api, patient, django_capture_on_commit_callbacks):
    response = invite(api, patient, django_capture_on_commit_callbacks, scopes=["read", "log"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ana.ruiz@example.test"
    assert body["name"] == "Ana Ruiz"
    assert body["scopes"] == ["read", "log"]
    assert body["status"] == "invited"
    assert [e["action"] for e in body["history"]] == ["granted"]
    caregiver = User.objects.get(email="ana.ruiz@example.test")
    assert caregiver.role == Role.CAREGIVER and not caregiver.is_active
    assert not caregiver.is_staff and not is_staff_member(caregiver)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ana.ruiz@example.test"]
    token = token_of(mail.outbox[0])
    # Not active until activated: no sign-in, no patients.
    assert patients_for(caregiver).count() == 0
    activated = api(None).post(
        ACTIVATE, {"token": token, "password": CAREGIVER_PASSWORD}, format="json"
    )
    assert activated.status_code == 200, activated.content
    assert set(activated.json()) == {"access", "refresh"}
    assert login(api, "ana.ruiz@example.test", CAREGIVER_PASSWORD).status_code == 200
    caregiver.refresh_from_db()
    assert list(patients_for(caregiver)) == [patient]
    # Single use.
    again = api(None).post(
        ACTIVATE, {"token": token, "password": CAREGIVER_PASSWORD}, format="json"
    )
    assert_error(again, 400, code="invitation_used", attr="token")
    listing = api(patient.user).get(URL).json()
    assert listing[0]["status"] == "active"
    assert [e["action"] for e in listing[0]["history"]] == ["granted", "accepted"]


def test_repeated_invitation_is_idempotent(api, patient, django_capture_on_commit_callbacks):
    first = invite(api, patient, django_capture_on_commit_callbacks)
    second = invite(api, patient, django_capture_on_commit_callbacks)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert CaregiverGrant.objects.count() == 1
    assert User.objects.filter(email="ana.ruiz@example.test").count() == 1
    # The newer link works, the older one no longer does.
    old, new = token_of(mail.outbox[0]), token_of(mail.outbox[1])
    assert old != new
    assert_error(
        api(None).post(ACTIVATE, {"token": old, "password": CAREGIVER_PASSWORD}, format="json"),
        400,
        code="invalid_invitation",
    )
    assert (
        api(None)
        .post(ACTIVATE, {"token": new, "password": CAREGIVER_PASSWORD}, format="json")
        .status_code
        == 200
    )
    # Different scopes: the same grant, changed, with the change in its history.
    changed = invite(api, patient, django_capture_on_commit_callbacks, scopes=["read", "plan"])
    assert changed.status_code == 200 and changed.json()["id"] == first.json()["id"]
    assert changed.json()["scopes"] == ["read", "plan"]
    assert [e["action"] for e in changed.json()["history"]] == ["granted", "accepted", "changed"]


def test_expired_link_is_a_clear_400(api, patient, django_capture_on_commit_callbacks, settings):
    invite(api, patient, django_capture_on_commit_callbacks)
    CaregiverGrant.objects.update(link_expires_at=timezone.now() - timedelta(seconds=1))
    response = api(None).post(
        ACTIVATE, {"token": token_of(mail.outbox[0]), "password": CAREGIVER_PASSWORD}, format="json"
    )
    assert_error(response, 400, code="invitation_expired", attr="token")
    assert not User.objects.get(email="ana.ruiz@example.test").is_active


def test_revoked_link_is_refused(api, patient, django_capture_on_commit_callbacks):
    grant_id = invite(api, patient, django_capture_on_commit_callbacks).json()["id"]
    assert api(patient.user).delete(f"{URL}{grant_id}/").status_code == 204
    response = api(None).post(
        ACTIVATE, {"token": token_of(mail.outbox[0]), "password": CAREGIVER_PASSWORD}, format="json"
    )
    assert_error(response, 400, code="invitation_revoked", attr="token")


def test_existing_caregiver_invited_by_a_second_patient_gets_a_new_grant(
    api, patient, other_patient, django_capture_on_commit_callbacks
):
    caregiver, _ = caregiver_of(patient, "read")
    response = invite(api, other_patient, django_capture_on_commit_callbacks, email=caregiver.email)
    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert "activate?" not in mail.outbox[-1].body  # no link: they sign in as before
    assert set(patients_for(caregiver)) == {patient, other_patient}
    caring = api(caregiver).get("/api/v1/me/caregiving/").json()
    assert {row["patient"] for row in caring} == {patient.pk, other_patient.pk}
    logged = PHIAccess.objects.filter(user=caregiver, resource="caregiving")
    assert set(logged.values_list("patient_id", flat=True)) == {patient.pk, other_patient.pk}


def test_staff_or_patient_address_cannot_become_a_caregiver(
    api, patient, other_patient, surgeon, django_capture_on_commit_callbacks
):
    for email in (surgeon.email, other_patient.user.email):
        response = invite(api, patient, django_capture_on_commit_callbacks, email=email)
        assert_error(response, 400, code="not_a_caregiver", attr="email")
    assert CaregiverGrant.objects.count() == 0


def test_bad_input_is_a_400(api, patient, django_capture_on_commit_callbacks):
    assert_error(invite(api, patient, django_capture_on_commit_callbacks, scopes=[]), 400)
    assert_error(
        invite(api, patient, django_capture_on_commit_callbacks, scopes=["admin"]), 400, attr=None
    )
    past = (timezone.now() - timedelta(days=1)).isoformat()
    assert_error(
        invite(api, patient, django_capture_on_commit_callbacks, expires_at=past),
        400,
        code="in_past",
        attr="expires_at",
    )
    assert_error(
        invite(api, patient, django_capture_on_commit_callbacks, surprise=1), 400, attr="surprise"
    )


def test_only_patients_manage_their_caregivers_and_others_are_404(
    api, patient, other_patient, surgeon, django_capture_on_commit_callbacks
):
    caregiver, grant = caregiver_of(patient, "read")
    assert_error(api(surgeon).get(URL), 403)
    assert_error(api(caregiver).get(URL), 403)
    assert_error(api(caregiver).post(URL, {}, format="json"), 403)
    assert_error(api(other_patient.user).delete(f"{URL}{grant.pk}/"), 404)
    assert_error(api(caregiver).get("/api/v1/me/access-log/"), 403)
    assert_error(api(patient.user).get("/api/v1/me/caregiving/"), 403)
    assert api(other_patient.user).get(URL).json() == []
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_revocation_ends_access_at_once_and_is_kept(api, patient):
    caregiver, grant = caregiver_of(patient, "read", "log")
    assert list(patients_for(caregiver)) == [patient]
    assert api(patient.user).delete(f"{URL}{grant.pk}/").status_code == 204
    assert api(patient.user).delete(f"{URL}{grant.pk}/").status_code == 204  # again: nothing
    assert patients_for(caregiver).count() == 0
    grant.refresh_from_db()
    assert grant.revoked_by == patient.user and grant.revoked_at is not None
    events = list(grant.events.values_list("action", "actor_id"))
    assert events == [
        ("granted", patient.user.pk),
        ("revoked", patient.user.pk),
    ]
    assert api(patient.user).get(URL).json()[0]["status"] == "revoked"
    assert_error(api(caregiver).get(f"/api/v1/patients/{patient.pk}/fhir/"), 404)


def test_expired_grant_gives_no_access(patient):
    caregiver, grant = caregiver_of(patient, "read", expires_at=timezone.now() + timedelta(hours=1))
    assert patients_for(caregiver).count() == 1
    CaregiverGrant.objects.filter(pk=grant.pk).update(
        created_at=timezone.now() - timedelta(days=2),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert patients_for(caregiver).count() == 0


def test_scopes_narrow_patients_for(patient):
    caregiver, _ = caregiver_of(patient, "plan")
    assert patients_for(caregiver).count() == 0
    assert list(patients_for(caregiver, "plan")) == [patient]
    assert patients_for(caregiver, "log").count() == 0


def test_clinic_revokes_and_only_the_care_team(patient, other_patient, surgeon):
    _, grant = caregiver_of(patient, "read")
    outsider = other_patient.surgeon
    with pytest.raises(DomainError):
        caregiver_grant_revoke(grant=grant, actor=outsider)
    with pytest.raises(DomainError):
        caregiver_invite(patient=patient, actor=outsider, email="x@example.test", scopes=["read"])
    caregiver_grant_revoke(grant=grant, actor=surgeon)
    grant.refresh_from_db()
    assert grant.revoked_by == surgeon


def test_constraints_name_the_problem(patient):
    caregiver, grant = caregiver_of(patient, "read")
    with pytest.raises(IntegrityError), transaction.atomic():
        CaregiverGrant.objects.create(patient=patient, caregiver=caregiver, scopes=["read"])
    with pytest.raises(IntegrityError), transaction.atomic():
        CaregiverGrant.objects.filter(pk=grant.pk).update(scopes=["everything"])
    with pytest.raises(IntegrityError), transaction.atomic():
        CaregiverGrant.objects.filter(pk=grant.pk).update(scopes=[])
    bad = CaregiverGrant(patient=patient, caregiver=caregiver, scopes=["read"])
    with pytest.raises(Exception) as info:
        bad.validate_constraints()
    assert "already has access" in str(info.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        CaregiverGrantEvent.objects.create(grant=grant, action="deleted", scopes=[])


def test_caregiver_never_signs_into_the_admin(client, patient):
    caregiver, _ = caregiver_of(patient, "read")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": caregiver.email, "password": CAREGIVER_PASSWORD}
    )
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
    client.force_login(caregiver)
    assert client.get("/admin/").status_code == 302
    assert client.get(f"/admin/accounts/patientprofile/{patient.pk}/change/").status_code == 302


def test_caregiver_reads_are_in_the_patients_access_log(api, patient, other_patient):
    caregiver, _ = caregiver_of(patient, "read")
    assert api(caregiver).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 200
    assert api(caregiver).get(f"/api/v1/patients/{other_patient.pk}/fhir/").status_code == 404
    logged = PHIAccess.objects.get(user=caregiver)
    assert logged.patient_id == patient.pk and logged.action == "export"
    history = api(patient.user).get("/api/v1/me/access-log/").json()["results"]
    assert history[0]["reader"] == {"name": "Casey Carer", "role": "caregiver"}
    assert history[0]["summary"].startswith("Casey Carer (caregiver) exported your")
    assert not PHIAccess.objects.filter(patient=other_patient).exists()


def test_plan_needs_the_plan_scope(api, patient):
    reader, _ = caregiver_of(patient, "read", email="reader@example.test")
    planner, _ = caregiver_of(patient, "plan", email="planner@example.test")
    assert_error(api(reader).get(f"/api/v1/patients/{patient.pk}/plan/"), 404)
    assert api(planner).get(f"/api/v1/patients/{patient.pk}/plan/").status_code == 200
    assert_error(api(planner).get(f"/api/v1/patients/{patient.pk}/fhir/"), 404)


def test_alerts_are_never_a_caregivers(api, patient):
    caregiver, _ = caregiver_of(patient, "read", "log", "plan", "reminders")
    assert_error(api(caregiver).get("/api/v1/alerts/"), 403)
    assert_error(api(caregiver).post("/api/v1/alerts/1/acknowledge/"), 403)


def test_caregiver_password_is_their_own(api, patient):
    caregiver, _ = caregiver_of(patient, "read")
    assert login(api, caregiver.email, PASSWORD).status_code == 401
    assert login(api, patient.user.email, CAREGIVER_PASSWORD).status_code == 401
    assert login(api, caregiver.email, CAREGIVER_PASSWORD).status_code == 200


def test_new_patient_with_no_grants_sees_none(patient):
    stranger = PatientFactory(clinic=patient.clinic)
    caregiver, _ = caregiver_of(patient, "read")
    assert stranger not in patients_for(caregiver)


def test_erasing_the_patient_revokes_their_caregivers(patient, clinic):
    from accounts.erasure import erasure_confirm, erasure_request
    from tests.factories import StaffFactory

    caregiver, grant = caregiver_of(patient, "read", "log")
    request, _ = erasure_request(user=patient.user)
    erasure_confirm(actor=StaffFactory(clinic=clinic, role="clinic_admin"), request_id=request.pk)
    grant.refresh_from_db()
    assert grant.revoked_at is not None and grant.revoked_by is None
    assert list(grant.events.values_list("action", "actor")) == [
        ("granted", patient.user.pk),
        ("revoked", None),
    ]
    assert patients_for(caregiver).count() == 0
    assert caregiver.is_active  # their own account stays


def test_a_caregiver_is_locked_out_like_every_account(api, patient, settings):
    settings.AXES_FAILURE_LIMIT = 3
    caregiver, _ = caregiver_of(patient, "read")
    for _ in range(3):
        assert login(api, caregiver.email, "nope-nope-nope").status_code in (401, 429)
    assert_error(login(api, caregiver.email, CAREGIVER_PASSWORD), 429, "locked_out")
    assert login(api, patient.user.email).status_code == 200  # the patient is not


def test_me_for_a_caregiver(api, patient):
    caregiver, _ = caregiver_of(patient, "read")
    me = api(caregiver).get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["role"] == "caregiver" and me.json()["patient_profile"] is None
    assert_error(api(caregiver).patch("/api/v1/me/", {"time_zone": "UTC"}, format="json"), 403)
