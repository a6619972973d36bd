"""A caregiver's phone with the real WatermelonDB client (Node, LokiJS) against a live server:
it syncs the patient's record within the grant (``read``, ``log``: never the inbox) and logs on
the patient's behalf; after the patient revokes the grant (or removes ``read``) the next sync
removes the patient's records from the phone, and a push made after it is a 403
``consent_revoked`` whose records the server keeps (docs/sync.md, "Caregivers")."""

from datetime import timedelta

import pytest

from accounts.caregivers import caregiver_grant_revoke, caregiver_invite
from accounts.tokens import tokens_for
from recovery.models import PainLog
from recovery.sync.models import RejectedRecord
from reminders.models import Notification
from tests import factories as f
from tests.accounts.helpers import caregiver_of

from .helpers import now_ms
from .node_client import Device, NodeClient

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TABLES = ("pain_logs", "surgeries", "notifications")


@pytest.fixture
def node():
    client = NodeClient()
    yield client
    assert client.close() == 0, "the Node client saw WatermelonDB warnings:\n" + "".join(
        client.stderr
    )


def pain(**values):
    return {
        "recorded_at": now_ms(-timedelta(hours=1)),
        "intensity": 5,
        "location": "leg",
        "medication_taken": False,
        "relief": '["rest"]',
        "notes": "logged by my daughter",
        **values,
    }


def _phone(node, name, live_server, user, patient):
    return Device(
        node, name, live_server.url, tokens_for(user)["access"], schema=4, patient=patient.pk
    )


def _empty(device):
    return {table: device.records(table) for table in TABLES} == {t: {} for t in TABLES}


def test_caregiver_syncs_logs_then_revocation_empties_the_phone_and_keeps_the_push(
    node, live_server, patient, surgeon
):
    theirs = f.pain_log(patient)
    f.surgery(patient, surgeon)
    Notification.objects.create(patient=patient, kind="check_in", title="How are you?")
    caregiver, grant = caregiver_of(patient, "read", "log")
    phone = _phone(node, "carer-1", live_server, caregiver, patient)
    other = _phone(node, "carer-2", live_server, caregiver, patient)  # a second phone of theirs
    phone.synced()
    other.synced()
    assert set(phone.records("pain_logs")) == {theirs.pk}
    assert len(phone.records("surgeries")) == 1
    assert phone.records("notifications") == {}  # the patient's inbox: never

    # On the patient's behalf: it reaches the server with who entered it.
    log_id = phone.create("pain_logs", **pain())
    pushed = phone.synced()
    assert [a["rejected"] for a in pushed["pushAnswers"]] == [[]], pushed
    stored = PainLog.objects.get(pk=log_id)
    assert (stored.patient, stored.created_by) == (patient, caregiver)
    other.synced()
    assert set(other.records("pain_logs")) == {theirs.pk, log_id}

    caregiver_grant_revoke(grant=grant, actor=patient.user)

    # The next sync removes the patient's records (the pull sends their ids as deleted).
    result = phone.synced()
    assert _empty(phone), {t: phone.records(t) for t in TABLES}
    assert phone.records("pain_logs") == {}
    # Told once: the sync after it is the 404, and the app drops the (already empty) database.
    again = phone.sync()
    assert (again["synced"], again["status"], again["dropped"]) == (False, 404, True)
    assert again["body"]["errors"][0]["code"] == "not_in_scope"
    assert result["pulls"][0]["lastPulledAt"] is not None

    # The second phone logged offline after the revocation: its pull removes what the server
    # knew, its push is refused (403 consent_revoked), the app drops the database and the
    # server keeps the record for the care team.
    late = other.create("pain_logs", **pain(notes="after the revocation"))
    refused = other.sync()
    assert (refused["synced"], refused["status"], refused["dropped"]) == (False, 403, True)
    assert refused["body"]["errors"][0]["code"] == "consent_revoked"
    assert _empty(other)
    assert not PainLog.all_objects.filter(pk=late).exists()
    kept = RejectedRecord.objects.get(patient=patient, record_id=late)
    assert (kept.user, kept.table_name, kept.codes) == (caregiver, "pain_logs", ["consent_revoked"])
    assert kept.raw["notes"] == "after the revocation"


def test_removing_read_empties_the_phone(node, live_server, patient, surgeon):
    f.pain_log(patient)
    f.surgery(patient, surgeon)
    caregiver, _ = caregiver_of(patient, "read", "log", "reminders")
    phone = _phone(node, "carer", live_server, caregiver, patient)
    phone.synced()
    assert len(phone.records("pain_logs")) == 1
    # Losing a scope that covers no table (log) changes nothing on the phone.
    caregiver_invite(
        patient=patient, actor=patient.user, email=caregiver.email, scopes=["read", "reminders"]
    )
    phone.synced()
    assert len(phone.records("pain_logs")) == 1
    # Losing read: the grant stays (reminders), the record leaves the phone.
    caregiver_invite(
        patient=patient, actor=patient.user, email=caregiver.email, scopes=["reminders"]
    )
    phone.synced()
    assert _empty(phone)
    assert phone.sync()["status"] == 404
