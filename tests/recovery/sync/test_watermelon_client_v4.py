"""Sync schema version 4 (the medication list) with the real WatermelonDB client (Node,
LokiJS) against a live server: a phone on version 4 keeps its medication list offline and a
second phone gets it; an app updated from version 3 fills the new table and column in."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import tokens_for
from recovery.models import Medication, PainLog
from tests import factories as f

from .helpers import now_ms
from .node_client import Device, NodeClient

pytestmark = [pytest.mark.node, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MEDICATION_COLUMNS = ("name", "dose", "started_on", "stopped_on", "notes")


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
    a = Device(node, "A", live_server.url, token, schema=4)
    b = Device(node, "B", live_server.url, token, schema=4)
    a.synced()
    b.synced()
    return a, b


def _server(med_id) -> dict:
    """The stored medication in its wire form (dates as YYYY-MM-DD, '' for empty text)."""
    m = Medication.all_objects.get(pk=med_id)
    return {
        "name": m.name,
        "dose": m.dose,
        "started_on": m.started_on.isoformat(),
        "stopped_on": m.stopped_on.isoformat() if m.stopped_on else None,
        "notes": m.notes,
    }


def _on(device, med_id) -> dict:
    raw = device.records("medications")[med_id]
    return {column: raw[column] for column in MEDICATION_COLUMNS}


def test_a_medication_created_changed_and_deleted_offline_reaches_the_server_and_phone_b(
    phones, patient
):
    a, b = phones
    today = timezone.localdate(timezone=patient.tz)
    started = (today - timedelta(days=3)).isoformat()

    # Offline on A: the medicine, and a pain log naming it.
    med_id = a.create(
        "medications",
        name="Oxycodone",
        dose="5 mg every 6 hours as needed",
        started_on=started,
        stopped_on=None,
        notes="",
    )
    log_id = a.create(
        "pain_logs",
        recorded_at=now_ms(-timedelta(hours=1)),
        intensity=6,
        location="back",
        medication_taken=False,
        relief="[]",
        notes="",
        medications=json.dumps([med_id]),
    )
    (push,) = a.synced()["pushes"]
    assert [r["id"] for r in push["changes"]["medications"]["created"]] == [med_id]
    b.synced()

    stored = Medication.objects.get(pk=med_id)
    assert (stored.patient, stored.created_by) == (patient, patient.user)
    assert _server(med_id) == {
        "name": "Oxycodone",
        "dose": "5 mg every 6 hours as needed",
        "started_on": started,
        "stopped_on": None,
        "notes": "",
    }
    assert _on(b, med_id) == _server(med_id) == _on(a, med_id)
    assert b.records("medications")[med_id]["created_by"] == str(patient.user.pk)
    assert b.records("medications")[med_id]["_status"] == "synced"
    log = PainLog.objects.get(pk=log_id)
    assert (log.medications, log.medication_taken) == ([med_id], True)
    on_b = b.records("pain_logs")[log_id]
    assert (json.loads(on_b["medications"]), on_b["medication_taken"]) == ([med_id], True)

    # Offline on A again: a lower dose, then stopped today.
    a.update(
        "medications",
        med_id,
        dose="5 mg every 8 hours as needed",
        stopped_on=today.isoformat(),
        notes="tapering",
    )
    a.synced()
    b.synced()
    assert _server(med_id) == {
        "name": "Oxycodone",
        "dose": "5 mg every 8 hours as needed",
        "started_on": started,
        "stopped_on": today.isoformat(),
        "notes": "tapering",
    }
    assert _on(b, med_id) == _server(med_id) == _on(a, med_id)

    # B removes it from the list; A learns it; the old log still names it.
    b.delete("medications", med_id)
    b.synced()
    a.synced()
    assert Medication.all_objects.get(pk=med_id).deleted_at is not None
    assert not Medication.objects.filter(pk=med_id).exists()
    assert med_id not in a.records("medications") and med_id not in b.records("medications")
    assert a.client("records", device="A", table="medications")["locallyDeleted"] == []
    assert PainLog.objects.get(pk=log_id).medications == [med_id]
    assert json.loads(a.records("pain_logs")[log_id]["medications"]) == [med_id]


def test_a_stop_before_the_start_is_refused_by_record_and_the_phone_gets_the_truth(phones, patient):
    a, b = phones
    today = timezone.localdate(timezone=patient.tz)
    med_id = a.create(
        "medications",
        name="Gabapentin",
        dose="300 mg three times a day",
        started_on=today.isoformat(),
        stopped_on=None,
        notes="",
    )
    a.synced()
    a.update("medications", med_id, stopped_on=(today - timedelta(days=2)).isoformat())
    refused = a.synced()
    (answer,) = refused["pushAnswers"]
    assert [(r["table"], r["id"]) for r in answer["rejected"]] == [("medications", med_id)]
    assert Medication.objects.get(pk=med_id).stopped_on is None
    a.synced()  # the next pull gives A the server's row back
    assert a.records("medications")[med_id]["stopped_on"] is None
    b.synced()
    assert _on(b, med_id) == _server(med_id)


def test_an_app_updated_from_3_to_4_gets_the_list_and_the_logs_medications(
    node, live_server, patient, surgeon
):
    token = tokens_for(patient.user)["access"]
    med = f.medication(patient, surgeon, name="Acetaminophen", dose="1 g every 8 hours")
    log = f.pain_log(patient, medications=[med.pk])
    phone = Device(node, "old", live_server.url, token, schema=3)
    first = phone.synced()
    assert first["pulls"][0]["schemaVersion"] == 3
    assert "medications" not in phone.records("pain_logs")[log.pk]

    phone.upgrade(schema=4)
    result = phone.synced()
    migration = result["pulls"][0]["migration"]
    assert (migration["from"], migration["tables"]) == (3, ["medications"])
    assert {"table": "pain_logs", "columns": ["medications"]} in migration["columns"]
    assert _on(phone, med.pk) == _server(med.pk)
    assert phone.records("medications")[med.pk]["created_by"] == str(surgeon.pk)
    assert json.loads(phone.records("pain_logs")[log.pk]["medications"]) == [med.pk]

    # and the upgraded phone writes the new table: its own rows; the care team's are theirs
    own = phone.create(
        "medications",
        name="Melatonin",
        dose="3 mg at bedtime",
        started_on=timezone.localdate(timezone=patient.tz).isoformat(),
        stopped_on=None,
        notes="",
    )
    phone.update("medications", med.pk, notes="with food")
    (answer,) = phone.synced()["pushAnswers"]
    assert [(r["table"], r["id"]) for r in answer["rejected"]] == [("medications", med.pk)]
    assert _on(phone, own) == _server(own)
    assert Medication.objects.get(pk=own).created_by == patient.user
    assert Medication.objects.get(pk=med.pk).notes == ""
    phone.synced()  # the next pull gives the phone the care team's row back
    assert _on(phone, med.pk) == _server(med.pk)
