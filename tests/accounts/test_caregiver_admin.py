"""Caregivers in the admin: the care team grants on a patient's behalf and revokes, scoped to
their patients (another patient's grant is a 404); every step is in the grant's history."""

import pytest
from django.core import mail

from accounts.models import CaregiverGrant, Role, User
from tests.accounts.helpers import caregiver_of

pytestmark = pytest.mark.django_db

ADD = "/admin/accounts/caregivergrant/add/"
LIST = "/admin/accounts/caregivergrant/"


def test_care_team_grants_and_revokes(client, surgeon, patient, django_capture_on_commit_callbacks):
    client.force_login(surgeon)
    assert client.get(ADD).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ADD,
            {
                "patient": patient.pk,
                "email": "Son@Example.test",
                "name": "Sam Son",
                "scope_choices": ["read", "plan"],
                "expires_at_0": "",
                "expires_at_1": "",
            },
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    grant = CaregiverGrant.objects.get()
    assert grant.patient == patient and grant.scopes == ["read", "plan"]
    assert grant.caregiver.role == Role.CAREGIVER and grant.created_by == surgeon
    assert len(mail.outbox) == 1 and "activate?" in mail.outbox[0].body
    page = client.get(f"{LIST}{grant.pk}/change/")
    assert page.status_code == 200 and "granted" in page.content.decode()
    response = client.post(LIST, {"action": "revoke", "_selected_action": [grant.pk]})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_by == surgeon
    assert list(grant.events.values_list("action", flat=True)) == ["granted", "revoked"]


def test_refusals_are_form_errors_and_nothing_is_written(client, surgeon, patient, nurse):
    client.force_login(surgeon)
    response = client.post(
        ADD,
        {"patient": patient.pk, "email": nurse.email, "name": "N", "scope_choices": ["read"]},
    )
    assert response.status_code == 200
    assert "patient or staff account" in response.content.decode()
    assert not CaregiverGrant.objects.exists()


def test_scoped_to_the_care_teams_patients(client, surgeon, patient, other_patient):
    _, theirs = caregiver_of(other_patient, "read", email="theirs@example.test")
    _, mine = caregiver_of(patient, "read", email="mine@example.test")
    client.force_login(surgeon)
    listing = client.get(LIST).content.decode()
    assert "mine@example.test" in listing and "theirs@example.test" not in listing
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 404
    response = client.post(
        ADD,
        {
            "patient": other_patient.pk,
            "email": "x@example.test",
            "name": "X",
            "scope_choices": ["read"],
        },
    )
    assert response.status_code == 200  # not a choice
    assert not User.objects.filter(email="x@example.test").exists()
    client.post(LIST, {"action": "revoke", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client.get(f"{LIST}{mine.pk}/delete/").status_code == 403
