"""The real WatermelonDB client (Node, LokiJS) against a live server: two phones of one
patient, and the care team editing in between. Each scenario checks both devices and the
database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import tokens_for
from recovery.models import ActivityRestriction, Milestone, PainLog
from recovery.sync.models import RejectedRecord
from tests import factories as f

from .helpers import now_ms
from .node_client import Device, NodeClient

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node():
    client = NodeClient()
    yield client
    assert client.close() == 0, "the Node client saw WatermelonDB warnings:\n" + "".join(
        client.stderr
    )


@pytest.fixture
def phones(node, live_server, patient):
    token = tokens_for(patient.user)["access"]
    a = Device(node, "A", live_server.url, token)
    b = Device(node, "B", live_server.url, token)
    a.synced()
    b.synced()
    return a, b


def pain(**values):
    return {
        "recorded_at": now_ms(-timedelta(hours=1)),
        "intensity": 6,
        "location": "leg",
        "medication_taken": True,
        "relief": '["ice"]',
        "notes": "after PT",
        **values,
    }


def test_1_record_created_offline_reaches_the_other_device(phones, patient):
    a, b = phones
    log_id = a.create("pain_logs", **pain())
    a.synced()
    b.synced()

    stored = PainLog.objects.get(pk=log_id)
    assert (stored.patient, stored.created_by, stored.intensity, stored.relief) == (
        patient,
        patient.user,
        6,
        ["ice"],
    )
    on_b = b.records("pain_logs")[log_id]
    assert on_b["intensity"] == 6 and on_b["notes"] == "after PT" and on_b["_status"] == "synced"
    assert on_b["created_by"] == str(patient.user.pk)
    assert a.records("pain_logs")[log_id]["_status"] == "synced"


def test_2_and_3_update_and_delete_travel_the_same_way(phones):
    a, b = phones
    log_id = a.create("pain_logs", **pain())
    a.synced()
    b.synced()

    a.update("pain_logs", log_id, intensity=3, notes="better")
    a.synced()
    b.synced()
    assert PainLog.objects.get(pk=log_id).intensity == 3
    assert (
        b.records("pain_logs")[log_id]["intensity"],
        b.records("pain_logs")[log_id]["notes"],
    ) == (3, "better")

    b.delete("pain_logs", log_id)
    b.synced()
    a.synced()
    assert PainLog.all_objects.get(pk=log_id).deleted_at is not None
    assert log_id not in a.records("pain_logs")
    assert log_id not in b.records("pain_logs")


def test_4_a_deletion_is_not_undone_by_the_next_pull(phones):
    a, b = phones
    log_id = a.create("pain_logs", **pain())
    a.synced()
    a.delete("pain_logs", log_id)
    a.synced()  # pulls its own create back (it was locally deleted), then pushes the delete
    a.synced()
    b.synced()

    assert PainLog.all_objects.get(pk=log_id).deleted_at is not None
    assert log_id not in a.records("pain_logs")
    assert a.client("records", device="A", table="pain_logs")["locallyDeleted"] == []
    assert log_id not in b.records("pain_logs")


def test_5_conflict_is_refused_then_merged(phones):
    a, b = phones
    log_id = a.create("pain_logs", **pain(intensity=5, notes=""))
    a.synced()
    b.synced()

    a.update("pain_logs", log_id, intensity=8)
    b.update("pain_logs", log_id, notes="from B")
    assert a.sync(pauseBeforePush=True) == {"paused": True}  # A has pulled, not yet pushed
    b.synced()
    refused = a.resume()
    assert refused["synced"] is False
    assert refused["status"] == 409
    assert refused["body"]["conflicts"] == {"pain_logs": [log_id]}
    assert PainLog.objects.get(pk=log_id).intensity == 5  # nothing of A's push applied

    a.synced()  # pull merges (A's changed column wins), push goes through
    b.synced()
    stored = PainLog.objects.get(pk=log_id)
    assert (stored.intensity, stored.notes) == (8, "from B")
    for device in (a, b):
        record = device.records("pain_logs")[log_id]
        assert (record["intensity"], record["notes"], record["_status"]) == (8, "from B", "synced")


def test_6_lost_push_response_creates_no_duplicate(phones):
    a, b = phones
    log_id = a.create("pain_logs", **pain())
    lost = a.sync(losePushResponse=True)
    assert lost["synced"] is False and "lost" in lost["message"]
    assert PainLog.objects.filter(pk=log_id).exists()  # the server applied it
    assert a.records("pain_logs")[log_id]["_status"] == "created"  # the phone does not know

    a.synced()
    b.synced()
    assert PainLog.all_objects.count() == 1
    assert list(a.records("pain_logs")) == [log_id]
    assert list(b.records("pain_logs")) == [log_id]
    assert a.records("pain_logs")[log_id]["_status"] == "synced"


def clinician_edits_restriction(surgeon, restriction, **values):
    """The care team's edit, made in the admin: the surgeon posts the restriction's change form
    (which saves through ``record_update``)."""
    from django.test import Client

    client = Client()
    client.force_login(surgeon)
    form = {
        "activity": restriction.activity,
        "instructions": restriction.instructions,
        "limit_value": restriction.limit_value if restriction.limit_value is not None else "",
        "limit_unit": restriction.limit_unit,
        "starts_on": restriction.starts_on.isoformat(),
        "ends_on": restriction.ends_on.isoformat() if restriction.ends_on else "",
        "lifted_on": "",
        "lifted_by": "",
        "record_version": restriction.sync_version,  # the version the form was opened at
    }
    form.update(values)
    response = client.post(f"/admin/recovery/activityrestriction/{restriction.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_7_clinician_edit_while_the_patient_is_offline(phones, patient, surgeon):
    a, b = phones
    rule = f.restriction(
        patient, surgeon, limit_value=10, instructions="Nothing heavier than a milk jug"
    )
    a.synced()
    assert a.records("restrictions")[rule.id]["limit_value"] == 10

    # the phone is offline; the surgeon raises the limit
    a_log = a.create("pain_logs", **pain())
    clinician_edits_restriction(
        surgeon, ActivityRestriction.objects.get(pk=rule.id), limit_value=20
    )

    a.synced()
    b.synced()
    assert ActivityRestriction.objects.get(pk=rule.id).limit_value == 20
    for device in (a, b):
        assert device.records("restrictions")[rule.id]["limit_value"] == 20
        assert (
            device.records("restrictions")[rule.id]["instructions"]
            == "Nothing heavier than a milk jug"
        )
    assert PainLog.objects.filter(pk=a_log).exists()


def test_8_schema_migration_sync_after_an_app_update(node, live_server, patient, surgeon):
    token = tokens_for(patient.user)["access"]
    old = Device(node, "old", live_server.url, token, schema=1)
    log = f.pain_log(patient)
    goal = f.milestone(patient, surgeon, target_on=timezone.localdate())
    first = old.synced()
    assert first["pulls"][0]["schemaVersion"] == 1
    assert "created_by" not in old.records("pain_logs")[log.id]

    old.upgrade(schema=2)
    result = old.synced()
    migration = result["pulls"][0]["migration"]
    assert migration["from"] == 1
    assert {c["table"] for c in migration["columns"]} >= {"pain_logs", "milestones"}
    # rows unchanged since the last pull came again, now with the new column
    assert old.records("pain_logs")[log.id]["created_by"] == str(patient.user.pk)
    assert old.records("milestones")[goal.id]["created_by"] == str(surgeon.pk)

    # and the upgraded phone keeps syncing normally
    achieved = timezone.localdate().isoformat()
    old.update("milestones", goal.id, achieved_on=achieved)
    old.synced()
    assert Milestone.objects.get(pk=goal.id).achieved_on.isoformat() == achieved


def test_a_refused_record_does_not_strand_the_phone(phones, patient, surgeon):
    """A poison record (a PT session `completed` without `performed_at`) and a local edit of a
    read-only record (the care team's restriction) are refused alone: the other records
    arrive, the push answers 200 so WatermelonDB stops sending them, and the next pull gives
    the phone the server's truth for both, with the refusals for onDidPullChanges."""
    a, b = phones
    rule = f.restriction(patient, surgeon)
    a.synced()
    good = a.create("pain_logs", **pain())
    poison = a.create(
        "pt_sessions",
        status="completed",
        setting="home",
        exercises="[]",
        notes="",
        scheduled_for=now_ms(-timedelta(hours=3)),
    )
    a.update("restrictions", rule.id, limit_value=50)
    first = a.synced()
    (answer,) = first["pushAnswers"]
    assert {(r["table"], r["id"]) for r in answer["rejected"]} == {
        ("pt_sessions", poison),
        ("restrictions", rule.id),
    }
    assert PainLog.objects.filter(pk=good).exists()
    assert RejectedRecord.objects.filter(record_id=poison).exists()

    second = a.synced()
    assert second["pushes"] == []  # nothing left to send: the phone is not stuck
    assert poison not in a.records("pt_sessions")
    assert a.records("restrictions")[rule.id]["limit_value"] == 10
    assert a.records("pain_logs")[good]["_status"] == "synced"
    (extra,) = second["didPull"]
    codes = {r["id"]: r["errors"][0]["code"] for r in extra["rejected"]}
    assert codes == {poison: "required", rule.id: "permission_denied"}
    assert ActivityRestriction.objects.get(pk=rule.id).limit_value == 10

    b.synced()  # the other phone gets the pain log and nothing of the refused records
    assert good in b.records("pain_logs") and poison not in b.records("pt_sessions")
    third = a.synced()
    assert third["didPull"][0]["rejected"] == []
