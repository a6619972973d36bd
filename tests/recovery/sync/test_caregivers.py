"""A caregiver's phone syncs a patient's record with the same WatermelonDB contract: one patient
per pull and push (``?patient=``, optional for a caregiver of one patient), within the grant's scopes; after a revocation the next pull
is a 404 ``not_in_scope`` telling the app to drop that patient's data."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.caregivers import caregiver_grant_revoke, caregiver_invite
from accounts.models import PHIAccess
from recovery.care.models import Alert, CheckIn
from recovery.models import PainLog
from recovery.sync.models import RejectedRecord
from reminders.models import Notification
from tests import factories as f
from tests.accounts.helpers import caregiver_of

from .helpers import changes, ids, now_ms, pain_raw, pull, push

pytestmark = pytest.mark.django_db


def _error(response, status, code):
    assert response.status_code == status, response.content
    assert code in [e["code"] for e in response.json()["errors"]], response.content


def test_caregiver_pulls_the_patients_record_and_pushes_logs(api, patient, other_patient, surgeon):
    f.pain_log(patient)
    f.pain_log(other_patient)
    f.surgery(patient, surgeon)
    caregiver, _ = caregiver_of(patient, "read", "log")
    client = api(caregiver)
    body = pull(client, schema_version=3).json()
    assert len(ids(body, "pain_logs")) == 1
    assert len(ids(body, "surgeries")) == 1
    mine = set(PainLog.objects.filter(patient=patient).values_list("pk", flat=True))
    assert set(ids(body, "pain_logs")) == mine
    # With the patient named, the same.
    named = pull(client, schema_version=3, patient=patient.pk).json()
    assert ids(named, "pain_logs") == ids(body, "pain_logs")
    # Another patient's record: 404, and nothing of theirs.
    _error(pull(client, schema_version=3, patient=other_patient.pk), 404, "not_in_scope")

    since = body["timestamp"]
    checkin = {
        "id": "ci-carer",
        "answered_at": now_ms(-timedelta(minutes=5)),
        "temperature_c": 37.0,
        "wound_opening": None,
        "_status": "created",
        "_changed": "",
    }
    response = push(
        client,
        changes(
            pain_logs={"created": [pain_raw("carer-log")]},
            check_ins={"created": [checkin]},
        ),
        since,
        patient=patient.pk,
    )
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == []
    log = PainLog.objects.get(pk="carer-log")
    assert (log.patient, log.created_by) == (patient, caregiver)
    assert CheckIn.objects.get(pk="ci-carer").created_by == caregiver
    # The patient's phone gets it, with who entered it.
    theirs = pull(api(patient.user), since, schema_version=3).json()
    row = next(r for r in theirs["changes"]["pain_logs"]["updated"] if r["id"] == "carer-log")
    assert row["created_by"] == str(caregiver.pk) or row["created_by"] == caregiver.pk
    # Every pull is in the patient's access log.
    assert PHIAccess.objects.filter(user=caregiver, patient=patient, action="sync").count() == 2


def test_push_outside_the_log_scope_is_refused_per_record(api, patient, surgeon):
    caregiver, _ = caregiver_of(patient, "read")
    client = api(caregiver)
    since = pull(client).json()["timestamp"]
    response = push(client, changes(pain_logs={"created": [pain_raw("nope")]}), since)
    assert response.status_code == 200, response.content
    rejected = response.json()["rejected"]
    assert [(r["table"], r["id"]) for r in rejected] == [("pain_logs", "nope")]
    assert rejected[0]["errors"][0]["code"] == "permission_denied"
    assert not PainLog.objects.filter(pk="nope").exists()
    assert RejectedRecord.objects.filter(patient=patient, record_id="nope").exists()


def test_caregiver_never_gets_the_patients_inbox(api, patient):
    caregiver, _ = caregiver_of(patient, "read", "log", "reminders")
    Notification.objects.create(patient=patient, kind="check_in", title="How are you?")
    assert (
        len(pull(api(patient.user), schema_version=3).json()["changes"]["notifications"]["updated"])
        == 1
    )
    body = pull(api(caregiver), schema_version=3).json()
    assert body["changes"]["notifications"] == {"created": [], "updated": [], "deleted": []}


def _deleted(body, table):
    change = body["changes"][table]
    assert change["created"] == [] and change["updated"] == [], change
    return set(change["deleted"])


def test_revocation_comes_as_deletions_once_then_404(api, patient, other_patient, surgeon):
    f.pain_log(patient)
    f.surgery(patient, surgeon)
    f.pain_log(other_patient)
    caregiver, grant = caregiver_of(patient, "read", "log")
    client = api(caregiver)
    first = pull(client, schema_version=3).json()
    held = set(ids(first, "pain_logs"))
    since = first["timestamp"]
    gone = f.pain_log(patient)  # pulled, then deleted after the caregiver's pull
    second = pull(client, since, schema_version=3).json()
    since = second["timestamp"]
    held |= set(ids(second, "pain_logs"))
    PainLog.objects.filter(pk=gone.pk).update(deleted_at=timezone.now(), sync_version=since + 1)
    caregiver_grant_revoke(grant=grant, actor=patient.user)
    logged = PHIAccess.objects.filter(user=caregiver, action="sync").count()
    later = f.pain_log(patient)  # after the revocation: never theirs, not even its id
    body = pull(client, since, schema_version=3).json()
    assert _deleted(body, "pain_logs") == held
    assert later.pk not in _deleted(body, "pain_logs")
    assert not set(PainLog.objects.filter(patient=other_patient).values_list("pk", flat=True)) & (
        _deleted(body, "pain_logs")
    )
    assert _deleted(body, "surgeries") == set(ids(first, "surgeries"))
    assert _deleted(body, "notifications") == set()
    assert body["rejected"] == []
    # Told once: the next pull, and any first pull, is the 404.
    _error(pull(client, body["timestamp"], schema_version=3), 404, "not_in_scope")
    _error(pull(client, schema_version=3), 404, "not_in_scope")
    # Named (above: not named, their only patient) the same; ids only, no access logged.
    assert _deleted(pull(client, since, schema_version=3, patient=patient.pk).json(), "pain_logs")
    assert PHIAccess.objects.filter(user=caregiver, action="sync").count() == logged


def test_expiry_and_losing_read_come_as_deletions(api, patient):
    f.pain_log(patient)
    expiring, _ = caregiver_of(
        patient, "read", email="exp@example.test", expires_at=timezone.now() + timedelta(hours=1)
    )
    since = pull(api(expiring)).json()["timestamp"]
    reduced, _ = caregiver_of(patient, "read", "log", email="red@example.test")
    reduced_since = pull(api(reduced)).json()["timestamp"]
    mine = set(PainLog.objects.filter(patient=patient).values_list("pk", flat=True))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert _deleted(pull(api(expiring), since).json(), "pain_logs") == mine
    # The grant stays, without read: the tables read covered come as deletions.
    caregiver_invite(patient=patient, actor=patient.user, email=reduced.email, scopes=["log"])
    body = pull(api(reduced), reduced_since).json()
    assert _deleted(body, "pain_logs") == mine
    _error(pull(api(reduced), body["timestamp"]), 404, "not_in_scope")
    # Losing another scope (log) while keeping read: the ordinary pull.
    caregiver_invite(patient=patient, actor=patient.user, email=reduced.email, scopes=["read"])
    assert pull(api(reduced), body["timestamp"]).status_code == 200


def test_a_stranger_gets_404_never_the_ids(api, patient, other_patient):
    f.pain_log(other_patient)
    caregiver, grant = caregiver_of(patient, "read", "log")
    client = api(caregiver)
    since = pull(client).json()["timestamp"]
    _error(pull(client, since, patient=other_patient.pk), 404, "not_in_scope")
    caregiver_grant_revoke(grant=grant, actor=patient.user)
    _error(pull(client, since, patient=other_patient.pk), 404, "not_in_scope")
    response = push(
        client, changes(pain_logs={"created": [pain_raw("x1")]}), since, patient=other_patient.pk
    )
    _error(response, 404, "not_in_scope")
    assert not RejectedRecord.objects.filter(record_id="x1").exists()


def test_the_ended_pull_costs_a_few_queries(api, patient, django_assert_max_num_queries):
    f.pain_log(patient)
    caregiver, grant = caregiver_of(patient, "read")
    client = api(caregiver)
    since = pull(client, schema_version=3).json()["timestamp"]
    caregiver_grant_revoke(grant=grant, actor=patient.user)
    from recovery.sync.tables import tables_for

    tables = len(tables_for(3))
    with django_assert_max_num_queries(tables + 12):
        assert pull(client, since, schema_version=3).status_code == 200


def test_a_push_after_revocation_is_403_and_kept(api, patient):
    caregiver, grant = caregiver_of(patient, "read", "log")
    client = api(caregiver)
    since = pull(client).json()["timestamp"]
    log = f.pain_log(patient)
    caregiver_grant_revoke(grant=grant, actor=patient.user)
    checkin = {
        "id": "ci-late",
        "answered_at": now_ms(-timedelta(minutes=5)),
        "temperature_c": 37.0,
        "wound_opening": None,
        "_status": "created",
        "_changed": "",
    }
    response = push(
        client,
        changes(
            pain_logs={"created": [pain_raw("late")], "deleted": [log.pk]},
            check_ins={"created": [checkin]},
        ),
        since,
    )
    _error(response, 403, "consent_revoked")
    assert response.json()["kept"] == 3
    assert not PainLog.objects.filter(pk="late").exists()
    assert PainLog.objects.filter(pk=log.pk, deleted_at__isnull=True).exists()
    kept = RejectedRecord.objects.filter(patient=patient, user=caregiver).order_by("record_id")
    assert {(r.table_name, r.record_id, r.section) for r in kept} == {
        ("pain_logs", "late", "created"),
        ("pain_logs", log.pk, "deleted"),
        ("check_ins", "ci-late", "created"),
    }
    assert all(r.codes == ["consent_revoked"] for r in kept)
    assert kept.get(record_id="late").raw["intensity"] == 4
    # A refused check-in never vanishes: the care team's alert.
    assert Alert.objects.filter(patient=patient, rule_key="check-in-refused").exists()
    # A malformed push is still a 400 (nothing readable to keep).
    bad = client.post(
        f"/api/v1/sync/push/?last_pulled_at={since}", data="{", content_type="application/json"
    )
    assert bad.status_code == 400


def test_a_caregiver_of_two_patients_names_the_patient(api, patient, other_patient):
    caregiver, _ = caregiver_of(patient, "read")
    caregiver_invite(
        patient=other_patient, actor=other_patient.user, email=caregiver.email, scopes=["read"]
    )
    f.pain_log(other_patient)
    client = api(caregiver)
    _error(pull(client), 400, "required")
    body = pull(client, patient=other_patient.pk).json()
    assert set(ids(body, "pain_logs")) == set(
        PainLog.objects.filter(patient=other_patient).values_list("pk", flat=True)
    )
    _error(pull(client, patient="abc"), 400, "invalid")


def test_plan_only_caregiver_does_not_sync_and_staff_never_do(api, patient, surgeon):
    planner, _ = caregiver_of(patient, "plan")
    _error(pull(api(planner)), 404, "not_in_scope")
    _error(pull(api(planner), patient=patient.pk), 404, "not_in_scope")
    assert pull(api(surgeon)).status_code == 403


def test_a_patient_names_only_themselves(api, patient, other_patient):
    assert pull(api(patient.user), patient=patient.pk).status_code == 200
    _error(pull(api(patient.user), patient=other_patient.pk), 404, "not_in_scope")
