"""Version 3 tables: outcome scores, the checklist, imaging, complications, check-ins, the inbox."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.models import Alert, CheckIn, ImagingStudy, OutcomeScore, PrepItem
from recovery.preparation.kinds import COMPLICATIONS, PREP_ITEMS
from recovery.record.kinds import SURGERIES
from recovery.record.writes import record_create
from reminders.services import notification_create

from .helpers import changes, now_ms, pull, push

pytestmark = pytest.mark.django_db


def synced(client, version=3):
    return pull(client, schema_version=version).json()["timestamp"]


def test_version_3_pull_has_the_new_tables_and_version_2_does_not(api, patient, surgeon):
    record_create(
        COMPLICATIONS,
        actor=surgeon,
        patient=patient,
        id="c1",
        kind="dural_tear",
        noticed_on=timezone.localdate(),
        severity="mild",
    )
    v3 = pull(api(patient.user), schema_version=3).json()["changes"]
    assert {
        "outcome_scores",
        "prep_items",
        "imaging_studies",
        "complications",
        "check_ins",
        "notifications",
    } <= set(v3)
    assert [r["id"] for r in v3["complications"]["updated"]] == ["c1"]
    v2 = pull(api(patient.user), schema_version=2).json()["changes"]
    assert "complications" not in v2


def test_check_in_pushed_offline_is_triaged(api, patient):
    client = api(patient.user)
    since = synced(client)
    raw = {
        "id": "ci1",
        "answered_at": now_ms(-timedelta(minutes=30)),
        "temperature_c": 38.7,
        "wound_opening": None,
        "_status": "created",
        "_changed": "",
    }
    response = push(client, changes(check_ins={"created": [raw]}), since)
    assert response.status_code == 200, response.content
    assert CheckIn.objects.get(pk="ci1").patient == patient
    assert Alert.objects.get(patient=patient).rule_key == "fever"


def test_outcome_score_is_scored_by_the_server(api, patient):
    client = api(patient.user)
    since = synced(client)
    raw = {
        "id": "odi1",
        "instrument": "odi",
        "version": "2.1a",
        "timepoint": "6w",
        "completed_at": now_ms(),
        "surgery": None,
        "answers": json.dumps({f"s{i}": 3 for i in range(1, 11)}),
        "score": 0,
        "sections_answered": 0,
        "_status": "created",
        "_changed": "",
    }
    response = push(client, changes(outcome_scores={"created": [raw]}), since)
    assert response.status_code == 200, response.content
    assert OutcomeScore.objects.get(pk="odi1").score == 60
    pulled = pull(client, since, schema_version=3).json()["changes"]["outcome_scores"]["updated"][0]
    assert pulled["score"] == 60.0 and json.loads(pulled["answers"])["s1"] == 3


def test_patient_completes_their_checklist_item_through_sync_but_not_the_care_teams(
    api, patient, surgeon
):
    surgery, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        performed_on=timezone.localdate() + timedelta(days=30),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
    )
    for pid, owner in (("p-own", "patient"), ("p-team", "care_team")):
        record_create(
            PREP_ITEMS,
            actor=surgeon,
            patient=patient,
            id=pid,
            surgery=surgery,
            kind="stop_smoking" if owner == "patient" else "consent",
            owner=owner,
            due_on=timezone.localdate() + timedelta(days=10),
        )
    client = api(patient.user)
    since = synced(client)
    rows = {
        r["id"]: r
        for r in pull(client, schema_version=3).json()["changes"]["prep_items"]["updated"]
    }
    own = {
        **rows["p-own"],
        "status": "done",
        "completed_on": str(timezone.localdate()),
        "quit_on": str(timezone.localdate()),
    }
    response = push(client, changes(prep_items={"updated": [own]}), since)
    assert response.status_code == 200, response.content
    assert PrepItem.objects.get(pk="p-own").status == "done"
    since = synced(client)
    team = {**rows["p-team"], "status": "done", "completed_on": str(timezone.localdate())}
    response = push(client, changes(prep_items={"updated": [team]}), since)
    assert response.status_code == 200  # refused alone, kept (docs/sync.md)
    assert response.json()["rejected"][0]["errors"][0]["code"] == "permission_denied"
    assert PrepItem.objects.get(pk="p-team").status == "open"


def test_imaging_is_read_only_for_the_patient(api, patient):
    client = api(patient.user)
    since = synced(client)
    raw = {
        "id": "img1",
        "modality": "xray",
        "performed_on": str(timezone.localdate()),
        "region": "lumbar",
        "purpose": "post_op_check",
        "_status": "created",
        "_changed": "",
    }
    response = push(client, changes(imaging_studies={"created": [raw]}), since)
    assert response.status_code == 200  # refused alone, kept (docs/sync.md)
    assert response.json()["rejected"][0]["errors"][0]["code"] == "permission_denied"
    assert not ImagingStudy.all_objects.exists()


def test_inbox_marks_read_and_refuses_anything_else(api, patient):
    note = notification_create(
        patient_id=patient.pk, kind="appointment", title="Appointment tomorrow", body="See the app."
    )
    client = api(patient.user)
    since = synced(client)
    [row] = pull(client, schema_version=3).json()["changes"]["notifications"]["updated"]
    assert row["id"] == note.pk and row["read_at"] is None
    response = push(
        client, changes(notifications={"updated": [{**row, "read_at": now_ms()}]}), since
    )
    assert response.status_code == 200, response.content
    note.refresh_from_db()
    assert note.read_at is not None
    since = synced(client)
    response = push(
        client, changes(notifications={"updated": [{**row, "title": "Changed"}]}), since
    )
    assert response.status_code == 200  # server-owned columns are ignored on push, as documented
    note.refresh_from_db()
    assert note.title == "Appointment tomorrow"
    since = synced(client)
    response = push(client, changes(notifications={"created": [{**row, "id": "new-note"}]}), since)
    assert response.status_code == 200
    assert response.json()["rejected"][0]["id"] == "new-note"
