"""The reminders inbox syncs from schema version 3: read-only except marking read (and deleting,
as the inbox API allows)."""

import pytest

from reminders.models import Notification
from reminders.services import notification_create

from .helpers import changes, ids, now_ms, pull, push

pytestmark = pytest.mark.django_db


@pytest.fixture
def note(patient):
    return notification_create(
        patient_id=patient.pk, kind="appointment", title="Wound check tomorrow"
    )


def raw_of(client, note_id):
    body = pull(client, schema_version=3).json()
    return body["timestamp"], next(
        r for r in body["changes"]["notifications"]["updated"] if r["id"] == note_id
    )


def test_notifications_come_with_schema_version_3_only(api, patient, other_patient, note):
    notification_create(patient_id=other_patient.pk, kind="appointment", title="Not yours")
    client = api(patient.user)
    assert "notifications" not in pull(client, schema_version=2).json()["changes"]
    body = pull(client, schema_version=3).json()
    assert ids(body, "notifications") == [note.id]
    raw = body["changes"]["notifications"]["updated"][0]
    assert raw["title"] == "Wound check tomorrow" and raw["read_at"] is None
    assert "reminder" not in raw and "patient" not in raw


def test_marking_read_through_a_push(api, patient, note):
    client = api(patient.user)
    since, raw = raw_of(client, note.id)
    response = push(
        client,
        changes(notifications={"updated": [{**raw, "read_at": now_ms(), "title": "edited"}]}),
        since,
    )
    assert response.status_code == 200, response.content
    stored = Notification.objects.get(pk=note.id)
    assert stored.read_at is not None
    assert stored.title == "Wound check tomorrow"  # read-only columns are ignored
    after = pull(client, since, schema_version=3).json()
    assert ids(after, "notifications") == [note.id]


def test_deleting_and_the_refusals(api, patient, note):
    client = api(patient.user)
    since, raw = raw_of(client, note.id)
    created = push(client, changes(notifications={"created": [{**raw, "id": "mine1"}]}), since)
    assert created.status_code == 200, created.content  # refused alone, kept (docs/sync.md)
    (refusal,) = created.json()["rejected"]
    assert (refusal["id"], refusal["errors"][0]["code"]) == ("mine1", "permission_denied")
    assert refusal["errors"][0]["attr"] == "notifications.mine1"
    unread = push(
        client, changes(notifications={"updated": [{**raw, "read_at": None, "title": "x"}]}), since
    )
    assert unread.status_code == 200  # nothing differs from the server: nothing to do
    assert push(client, changes(notifications={"deleted": [note.id]}), since).status_code == 200
    assert Notification.objects.get(pk=note.id).deleted_at is not None
    # the refused id comes back as deleted: the server has no such notification
    assert sorted(
        pull(client, since, schema_version=3).json()["changes"]["notifications"]["deleted"]
    ) == sorted([note.id, "mine1"])
