"""One refused record must not block a phone (issue 14 part 1): it is quarantined, the rest of
the push applies, the next pull gives the server's truth for it and says why."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.care.models import Alert
from recovery.models import ActivityRestriction, PainLog, PrepItem
from recovery.preparation.kinds import PREP_ITEMS
from recovery.record.kinds import PAIN_LOGS
from recovery.record.writes import record_update
from recovery.sync.models import RejectedRecord, RejectedStatus
from recovery.sync.rejections import rejected_records_purge
from recovery.sync.services import rejected_record_replay
from tests import factories as f

from .helpers import changes, now_ms, pain_raw, pull, push

pytestmark = pytest.mark.django_db


def synced(client, schema_version=2):
    return pull(client, schema_version=schema_version).json()["timestamp"]


def session_raw(id, **values):
    return {
        "id": id,
        "scheduled_for": None,
        "performed_at": None,
        "status": "completed",  # without performed_at: the app's own bug
        "setting": "home",
        "duration_minutes": 20,
        "exercises": "[]",
        "pain_before": None,
        "pain_after": None,
        "exertion": None,
        "notes": "",
        "_status": "created",
        "_changed": "",
        **values,
    }


def test_a_poison_record_is_kept_and_the_rest_arrives(api, patient):
    client = api(patient.user)
    since = synced(client)
    poison = session_raw("bad1", scheduled_for=now_ms(-timedelta(hours=2)))
    body = changes(
        pain_logs={"created": [pain_raw("ok1"), pain_raw("typo1", intensity="7")]},
        pt_sessions={"created": [poison]},
    )
    response = client.post(
        f"/api/v1/sync/push/?last_pulled_at={since}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_USER_AGENT="RealignApp/2.3 (iPhone)",
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["ok"] is True
    assert {(r["table"], r["id"]) for r in answer["rejected"]} == {
        ("pain_logs", "typo1"),
        ("pt_sessions", "bad1"),
    }
    by_id = {r["id"]: r["errors"] for r in answer["rejected"]}
    assert by_id["bad1"] == [
        {
            "code": "required",
            "detail": "A completed session needs the time it was done.",
            "attr": "pt_sessions.bad1.performed_at",
        }
    ]
    assert by_id["typo1"][0]["attr"] == "pain_logs.typo1.intensity"
    assert by_id["typo1"][0]["code"] == "invalid_type"
    assert list(PainLog.objects.values_list("id", flat=True)) == ["ok1"]

    kept = RejectedRecord.objects.get(record_id="bad1")
    assert kept.raw == poison  # as sent, WatermelonDB's bookkeeping included
    assert (kept.patient, kept.user, kept.table_name, kept.section) == (
        patient,
        patient.user,
        "pt_sessions",
        "created",
    )
    assert kept.device == "RealignApp/2.3 (iPhone)"
    assert kept.errors == by_id["bad1"]
    assert kept.status == RejectedStatus.OPEN

    # the next pull: the server has no such records, so both ids come as deleted, and the
    # refusals ride along for onDidPullChanges
    after = pull(client, since).json()
    assert after["changes"]["pt_sessions"]["deleted"] == ["bad1"]
    assert after["changes"]["pain_logs"]["deleted"] == ["typo1"]
    assert [r["id"] for r in after["changes"]["pain_logs"]["updated"]] == ["ok1"]
    assert {r["id"]: r["errors"] for r in after["rejected"]} == by_id
    # ... once: the pull after that has nothing more to say
    again = pull(client, after["timestamp"]).json()
    assert again["rejected"] == []
    assert again["changes"]["pt_sessions"] == {"created": [], "updated": [], "deleted": []}


def test_a_local_edit_of_a_read_only_record_gets_the_servers_row_back(api, patient, surgeon):
    rule = f.restriction(patient, surgeon)
    client = api(patient.user)
    first = pull(client).json()
    raw = next(r for r in first["changes"]["restrictions"]["updated"] if r["id"] == rule.id)
    since = first["timestamp"]
    response = push(
        client,
        changes(
            restrictions={"updated": [{**raw, "limit_value": 50, "_status": "updated"}]},
            pain_logs={"created": [pain_raw("ok1")]},
        ),
        since,
    )
    assert response.status_code == 200
    assert [r["errors"][0]["code"] for r in response.json()["rejected"]] == ["permission_denied"]
    assert PainLog.objects.filter(pk="ok1").exists()
    after = pull(client, since).json()
    (truth,) = after["changes"]["restrictions"]["updated"]
    assert (truth["id"], truth["limit_value"]) == (rule.id, 10.0)
    assert ActivityRestriction.objects.get(pk=rule.id).limit_value == 10


def test_conflicts_stay_all_or_nothing(api, patient):
    """A conflict is the protocol: 409, nothing applied and nothing quarantined."""
    log = f.pain_log(patient)
    client = api(patient.user)
    since = synced(client)
    record_update(
        PAIN_LOGS,
        actor=patient.user,
        record=log,
        notes="changed on the web",
    )
    response = push(
        client,
        changes(
            pain_logs={"updated": [pain_raw(log.id, intensity=2)]},
            pt_sessions={"created": [session_raw("bad1")]},
        ),
        since,
    )
    assert response.status_code == 409
    assert not RejectedRecord.objects.exists()


def test_the_same_refused_record_sent_again_is_kept_once(api, patient):
    client = api(patient.user)
    body = changes(pt_sessions={"created": [session_raw("bad1", scheduled_for=now_ms())]})
    for _ in range(3):
        response = push(client, body, synced(client))
        assert response.json()["rejected"][0]["id"] == "bad1"
    kept = RejectedRecord.objects.get()
    assert kept.times_sent == 3


def test_a_replayed_push_with_a_refused_record_stays_200(
    api, patient, django_capture_on_commit_callbacks
):
    client = api(patient.user)
    since = synced(client)
    body = changes(
        pain_logs={"created": [pain_raw("ok1")]},
        pt_sessions={"created": [session_raw("bad1", scheduled_for=now_ms())]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = push(client, body, since)
    assert first.status_code == 200
    for _ in range(2):
        again = push(client, body, since)
        assert again.status_code == 200, again.content
        assert again.json()["rejected"] == first.json()["rejected"]
    assert RejectedRecord.objects.get().times_sent == 1
    assert PainLog.objects.count() == 1


def test_a_refused_check_in_opens_an_alert(api, patient):
    client = api(patient.user)
    since = synced(client, schema_version=3)
    raw = {
        "id": "ci1",
        "answered_at": now_ms(-timedelta(minutes=5)),
        "temperature_c": 52,  # out of the range the server keeps
        "notes": "",
    }
    response = push(client, changes(check_ins={"created": [raw]}), since)
    assert response.status_code == 200
    assert response.json()["rejected"][0]["id"] == "ci1"
    alert = Alert.objects.get(patient=patient)
    assert (alert.rule_key, alert.source_table, alert.source_id) == (
        "check-in-refused",
        "check_ins",
        "ci1",
    )
    assert "ci1" in alert.detail


def test_replay_after_the_cause_is_fixed(api, patient, surgeon):
    """The patient completed a checklist item the care team owned: refused. The care team makes
    it the patient's, then replays the record through the same services."""
    item = f.prep_item(patient, surgeon, owner="care_team")
    client = api(patient.user)
    first = pull(client, schema_version=3).json()
    raw = next(r for r in first["changes"]["prep_items"]["updated"] if r["id"] == item.id)
    done = {
        **raw,
        "status": "done",
        "completed_on": str(timezone.localdate()),
        "_status": "updated",
        "_changed": "status,completed_on",
    }
    response = push(client, changes(prep_items={"updated": [done]}), first["timestamp"])
    assert response.json()["rejected"][0]["errors"][0]["code"] == "permission_denied"
    kept = RejectedRecord.objects.get()

    with pytest.raises(Exception) as refused:
        rejected_record_replay(actor=surgeon, rejected=kept)
    assert getattr(refused.value, "code", repr(refused.value)) == "permission_denied"
    assert RejectedRecord.objects.get().status == RejectedStatus.OPEN

    record_update(PREP_ITEMS, actor=surgeon, record=item, owner="patient")
    rejected_record_replay(actor=surgeon, rejected=kept)
    assert PrepItem.objects.get(pk=item.id).status == "done"
    kept.refresh_from_db()
    assert (kept.status, kept.handled_by) == (RejectedStatus.REPLAYED, surgeon)


def test_replay_is_scoped(patient, other_patient, clinic):
    from tests.factories import ClinicFactory, StaffFactory

    elsewhere = StaffFactory(clinic=ClinicFactory(), role="surgeon")
    kept = RejectedRecord.objects.create(
        patient=patient,
        user=patient.user,
        table_name="pain_logs",
        record_id="x1",
        section="created",
        raw={"id": "x1"},
        errors=[],
        last_pulled_at=0,
        sync_version=0,
    )
    with pytest.raises(Exception) as refused:
        rejected_record_replay(actor=elsewhere, rejected=kept)
    assert getattr(refused.value, "code", "") == "not_found"


def test_retention_purges_old_refusals_only(patient):
    def kept(days):
        return RejectedRecord.objects.create(
            patient=patient,
            user=patient.user,
            table_name="pain_logs",
            record_id=f"x{days}",
            section="created",
            raw={},
            errors=[],
            last_pulled_at=0,
            sync_version=0,
            rejected_at=timezone.now() - timedelta(days=days),
        )

    kept(181)
    young = kept(10)
    assert rejected_records_purge() == 1
    assert list(RejectedRecord.objects.all()) == [young]


def test_a_replayed_push_with_a_refused_deletion_stays_200(
    api, patient, surgeon, django_capture_on_commit_callbacks
):
    goal = f.milestone(patient, surgeon, target_on=timezone.localdate())
    client = api(patient.user)
    since = synced(client)
    body = changes(pain_logs={"created": [pain_raw("ok1")]}, milestones={"deleted": [goal.id]})
    with django_capture_on_commit_callbacks(execute=True):
        first = push(client, body, since)
    assert [r["id"] for r in first.json()["rejected"]] == [goal.id]
    again = push(client, body, since)
    assert again.status_code == 200, again.content
    assert again.json()["rejected"] == first.json()["rejected"]
    # the phone deleted it locally; the next pull brings the care team's milestone back
    after = pull(client, since).json()
    assert goal.id in [r["id"] for r in after["changes"]["milestones"]["updated"]]
