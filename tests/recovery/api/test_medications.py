"""The medication list (a record table like the others: REST, sync, admin, timeline, FHIR) and
pain logs that name the medications taken."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from recovery.admin.timeline import timeline_for_patient
from recovery.record.models import Medication, PainLog
from tests import factories
from tests.recovery.sync.helpers import changes, ids, pain_raw, pull, push

pytestmark = pytest.mark.django_db


def _pain(client, **values):
    body = {
        "recorded_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "intensity": 6,
        "location": "leg",
        **values,
    }
    return client.post("/api/v1/pain-logs/", body, format="json")


def test_patient_keeps_a_medication_list_and_names_it_in_pain_logs(api, patient):
    client = api(patient.user)
    created = client.post(
        "/api/v1/medications/",
        {"id": "med-oxy", "name": "Oxycodone", "dose": "5 mg", "started_on": "2026-01-02"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["stopped_on"] is None
    answer = _pain(client, medications=["med-oxy"])
    assert answer.status_code == 201, answer.json()
    assert answer.json()["medications"] == ["med-oxy"]
    assert answer.json()["medication_taken"] is True  # what older apps read
    listed = client.get("/api/v1/pain-logs/").json()["results"]
    assert listed[0]["medications"] == ["med-oxy"]


def test_old_clients_yes_no_still_works(api, patient):
    answer = _pain(api(patient.user), medication_taken=True)
    assert answer.status_code == 201
    assert answer.json()["medication_taken"] is True and answer.json()["medications"] == []


def test_a_pain_log_names_only_the_patients_own_medications(api, patient, other_patient):
    theirs = factories.medication(other_patient, id="their-med")
    mine = factories.medication(patient, id="my-med")
    client = api(patient.user)
    for bad in (["their-med"], ["nope"], ["my-med", "my-med"], "my-med"):
        answer = _pain(client, medications=bad)
        assert answer.status_code == 400, (bad, answer.json())
        assert answer.json()["errors"][0]["attr"].startswith("medications"), answer.json()
    assert not PainLog.objects.filter(patient=patient).exists()
    # Another patient's medication is a 404, as if it did not exist.
    assert client.get(f"/api/v1/medications/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/medications/{mine.pk}/").status_code == 200


def test_a_removed_medication_still_counts_on_old_logs(api, patient):
    client = api(patient.user)
    med = factories.medication(patient, id="stopped-med")
    log = _pain(client, medications=["stopped-med"]).json()
    assert client.delete(f"/api/v1/medications/{med.pk}/").status_code == 204
    changed = client.patch(f"/api/v1/pain-logs/{log['id']}/", {"intensity": 3}, format="json")
    assert changed.status_code == 200, changed.json()


def test_stop_before_start_is_refused(api, patient):
    answer = api(patient.user).post(
        "/api/v1/medications/",
        {"name": "Celecoxib", "started_on": "2026-02-02", "stopped_on": "2026-02-01"},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["attr"] == "stopped_on"


def test_care_team_sees_and_edits_the_list(api, patient, surgeon):
    med = factories.medication(patient, id="pt-med")
    client = api(surgeon)
    listed = client.get("/api/v1/medications/", {"patient": patient.pk}).json()["results"]
    assert [m["id"] for m in listed] == ["pt-med"]
    stopped = client.patch(
        f"/api/v1/medications/{med.pk}/", {"stopped_on": str(timezone.localdate())}, format="json"
    )
    assert stopped.status_code == 200, stopped.json()


# --- sync ---------------------------------------------------------------------------------------


def _med_raw(id, **values):
    return {
        "id": id,
        "name": "Oxycodone",
        "dose": "5 mg",
        "started_on": "2026-01-02",
        "stopped_on": None,
        "notes": "",
        **values,
    }


def test_sync_v4_has_medications_and_v3_clients_are_not_sent_them(api, patient):
    factories.medication(patient, id="med-1")
    factories.pain_log(patient, id="log-1", medications=["med-1"])
    client = api(patient.user)
    v4 = pull(client, schema_version=4).json()
    assert ids(v4, "medications") == ["med-1"]
    log = v4["changes"]["pain_logs"]["updated"][0]
    assert json.loads(log["medications"]) == ["med-1"] and log["medication_taken"] is True
    v3 = pull(client, schema_version=3).json()
    assert "medications" not in v3["changes"]
    assert "medications" not in v3["changes"]["pain_logs"]["updated"][0]


def test_a_v3_push_leaves_a_logs_medications_alone(api, patient):
    factories.medication(patient, id="med-1")
    factories.pain_log(patient, id="log-1", medications=["med-1"])
    client = api(patient.user)
    since = pull(client, schema_version=3).json()["timestamp"]
    raw = pain_raw("log-1", intensity=2, medication_taken=True)
    answer = push(client, changes(pain_logs={"updated": [raw]}), since)
    assert answer.status_code == 200, answer.json()
    log = PainLog.objects.get(pk="log-1")
    assert (log.intensity, log.medications) == (2, ["med-1"])


def test_one_push_creates_a_medication_and_a_log_naming_it(api, patient):
    client = api(patient.user)
    since = pull(client, schema_version=4).json()["timestamp"]
    batch = changes(
        pain_logs={"created": [pain_raw("log-2", medications='["med-2"]')]},
        medications={"created": [_med_raw("med-2")]},
    )
    answer = push(client, batch, since)
    assert answer.status_code == 200, answer.json()
    assert Medication.objects.get(pk="med-2").patient == patient
    assert PainLog.objects.get(pk="log-2").medication_taken is True


def test_a_push_naming_another_patients_medication_is_a_400(api, patient, other_patient):
    factories.medication(other_patient, id="their-med")
    client = api(patient.user)
    since = pull(client, schema_version=4).json()["timestamp"]
    batch = changes(pain_logs={"created": [pain_raw("log-3", medications='["their-med"]')]})
    answer = push(client, batch, since)
    assert answer.status_code == 200  # refused and kept (docs/sync.md, "Refused records")
    (refused,) = answer.json()["rejected"]
    assert (refused["table"], refused["id"]) == ("pain_logs", "log-3")
    assert refused["errors"][0]["attr"].endswith("medications")
    assert not PainLog.objects.filter(pk="log-3").exists()


# --- admin, timeline, FHIR --------------------------------------------------------------------


def test_admin_medication_pages_are_scoped(client, patient, other_patient, surgeon):
    mine = factories.medication(patient, id="adm-med")
    theirs = factories.medication(other_patient, id="adm-other", name="Baclofen")
    client.force_login(surgeon)
    page = client.get("/admin/recovery/medication/")
    assert page.status_code == 200
    assert mine.name in page.content.decode() and theirs.name not in page.content.decode()
    assert client.get(f"/admin/recovery/medication/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/recovery/medication/{theirs.pk}/change/").status_code in (302, 404)


def test_timeline_shows_medications_started_and_stopped(patient):
    today = timezone.localdate()
    factories.medication(
        patient,
        id="tl-med",
        name="Tramadol",
        started_on=today - timedelta(days=5),
        stopped_on=today - timedelta(days=1),
    )
    events = [
        e
        for e in timeline_for_patient(
            patient=patient, since=today - timedelta(days=30), until=today, newest_first=False
        ).events
        if e.type == "medication"
    ]
    assert [(e.title, e.status) for e in events] == [
        ("Medication started: Tramadol", "start"),
        ("Medication stopped: Tramadol", "end"),
    ]


def test_fhir_bundle_lists_medications(api, patient):
    factories.medication(patient, id="fhir-med", stopped_on=timezone.localdate())
    response = api(patient.user).get("/api/v1/me/fhir/")
    data = json.loads(b"".join(response.streaming_content))
    Bundle.model_validate(data)
    statements = [
        e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    assert len(statements) == 1
    statement = statements[0]
    assert statement["status"] == "completed"
    assert statement["medicationCodeableConcept"] == {"text": "Oxycodone"}
    assert statement["dosage"] == [{"text": "5 mg every 6 hours as needed"}]
    assert statement["informationSource"]["reference"].startswith("urn:uuid:")


def test_admin_medication_list_queries_do_not_grow(client, patient, surgeon):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    factories.medication(patient, id="n1")
    client.force_login(surgeon)
    client.get("/admin/recovery/medication/")  # warm the session

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/recovery/medication/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for i in range(8):
        factories.medication(patient, surgeon, id=f"n-more{i}")
    assert queries() == few
