import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import PatientClock
from recovery.models import ActivityRestriction, Appointment, Milestone, PainLog, PTSession
from recovery.record.kinds import PAIN_LOGS
from recovery.record.writes import record_delete, record_update
from recovery.sync.models import RejectedRecord
from tests import factories as f

from .helpers import PUSH, changes, ids, now_ms, pain_raw, pull, push

pytestmark = pytest.mark.django_db


def synced(client):
    """Pull first, as the app does; returns the timestamp to push against."""
    return pull(client).json()["timestamp"]


def refused(response) -> dict:
    """``{"<table>.<id>": [(attr, code), ...]}`` of a push answer's ``rejected``."""
    assert response.status_code == 200, response.content
    return {
        f"{r['table']}.{r['id']}": [(e["attr"], e["code"]) for e in r["errors"]]
        for r in response.json()["rejected"]
    }


def test_push_creates_through_the_write_path(api, patient):
    client = api(patient.user)
    since = synced(client)
    recorded = now_ms(-timedelta(hours=3))
    response = push(
        client,
        changes(
            pain_logs={
                "created": [
                    pain_raw("log1", recorded_at=recorded, intensity=7, relief='["heat","rest"]')
                ]
            }
        ),
        since,
    )
    assert response.status_code == 200, response.content
    log = PainLog.objects.get(pk="log1")
    assert log.patient == patient
    assert log.created_by == patient.user
    assert log.intensity == 7
    assert log.relief == ["heat", "rest"]
    assert (log.recorded_at - timezone.now()).total_seconds() == pytest.approx(-3 * 3600, abs=5)
    assert log.sync_version > since
    assert log.sync_version == PatientClock.objects.get(patient=patient).value
    # ... and it comes back to every device on the next pull, under updated
    body = pull(client, since).json()
    assert ids(body, "pain_logs") == ["log1"]
    assert body["changes"]["pain_logs"]["updated"][0]["recorded_at"] == recorded


def test_created_with_an_existing_id_updates_and_updated_with_an_unknown_id_creates(api, patient):
    client = api(patient.user)
    since = synced(client)
    push(client, changes(pain_logs={"created": [pain_raw("a1")]}), since)
    since = synced(client)
    response = push(
        client,
        changes(
            pain_logs={
                "created": [pain_raw("a1", intensity=9)],
                "updated": [pain_raw("b2", _status="updated")],
            }
        ),
        since,
    )
    assert response.status_code == 200, response.content
    assert PainLog.objects.get(pk="a1").intensity == 9
    assert PainLog.objects.get(pk="b2").intensity == 4


def test_retried_push_is_a_no_op(api, patient):
    client = api(patient.user)
    since = synced(client)
    body = changes(pain_logs={"created": [pain_raw("once")]})
    assert push(client, body, since).status_code == 200
    version = PainLog.objects.get(pk="once").sync_version
    assert push(client, body, synced(client)).status_code == 200
    assert PainLog.all_objects.count() == 1
    assert PainLog.objects.get(pk="once").sync_version == version


def milestone_raw(id, **values):
    return {
        "id": id,
        "title": "Walk to the mailbox",
        "kind": "walk_unaided",
        "target_on": None,
        "achieved_on": None,
        "notes": "",
        **values,
    }


def committed_push(capture, client, body, since):
    """A push whose transaction commits (the test's own transaction stays open, so the push's
    after-commit work runs here)."""
    with capture(execute=True):
        return push(client, body, since)


def test_a_push_replayed_after_its_answer_was_lost_is_applied_once(
    api, patient, django_capture_on_commit_callbacks
):
    """Same body, same last_pulled_at: the rows changed after the pull by this very push."""
    old = f.pain_log(patient)
    gone = f.pain_log(patient)
    client = api(patient.user)
    since = synced(client)
    body = changes(
        pain_logs={
            "created": [pain_raw("lost1"), pain_raw("lost2", intensity=8)],
            "updated": [pain_raw(old.id, intensity=1, notes="better")],
            "deleted": [gone.id],
        },
        milestones={"created": [milestone_raw("m1", achieved_on="2025-01-02")]},
    )
    assert (
        committed_push(django_capture_on_commit_callbacks, client, body, since).status_code == 200
    )
    versions = dict(PainLog.all_objects.values_list("id", "sync_version"))
    clock = PatientClock.objects.get(patient=patient).value
    for _ in range(2):
        response = push(client, body, since)
        assert response.status_code == 200, response.content
        assert response.json() == {"ok": True, "rejected": []}
    assert dict(PainLog.all_objects.values_list("id", "sync_version")) == versions
    assert PatientClock.objects.get(patient=patient).value == clock  # nothing written
    assert PainLog.objects.get(pk=old.id).intensity == 1
    assert PainLog.all_objects.get(pk=gone.id).deleted_at is not None


def test_a_replay_with_other_values_is_still_a_conflict(
    api, patient, django_capture_on_commit_callbacks
):
    client = api(patient.user)
    since = synced(client)
    body = changes(pain_logs={"created": [pain_raw("r1", intensity=3)]})
    assert (
        committed_push(django_capture_on_commit_callbacks, client, body, since).status_code == 200
    )
    response = push(client, changes(pain_logs={"created": [pain_raw("r1", intensity=9)]}), since)
    assert response.status_code == 409
    assert response.json()["conflicts"] == {"pain_logs": ["r1"]}
    assert PainLog.objects.get(pk="r1").intensity == 3
    # a replay that also brings a record the first push did not have is not a replay
    response = push(
        client, changes(pain_logs={"created": [pain_raw("r1", intensity=3), pain_raw("r2")]}), since
    )
    assert response.status_code == 409
    assert not PainLog.all_objects.filter(pk="r2").exists()


@pytest.mark.parametrize("who", ["care_team", "same_user_elsewhere"])
def test_a_replay_after_someone_else_changed_the_row_is_still_a_conflict(
    api, patient, surgeon, who, django_capture_on_commit_callbacks
):
    """Even when the other change left the values the push carries: the row's last change was
    not this push's."""
    client = api(patient.user)
    since = synced(client)
    body = changes(milestones={"created": [milestone_raw("m2", title="Stairs")]})
    assert (
        committed_push(django_capture_on_commit_callbacks, client, body, since).status_code == 200
    )
    from recovery.record.kinds import MILESTONES
    from recovery.record.writes import record_update

    actor = surgeon if who == "care_team" else patient.user
    record_update(MILESTONES, actor=actor, record=Milestone.objects.get(pk="m2"), title="Stairs")
    response = push(client, body, since)
    assert response.status_code == 409
    assert response.json()["conflicts"] == {"milestones": ["m2"]}


def test_a_replay_trusts_only_this_users_pushes(api, patient, django_capture_on_commit_callbacks):
    """The memory of pushes names the user: rows stamped by another user's push are no replay;
    nor are they when the memory is gone (the app pulls and pushes again)."""
    client = api(patient.user)
    since = synced(client)
    body = changes(pain_logs={"created": [pain_raw("p1")]})
    assert (
        committed_push(django_capture_on_commit_callbacks, client, body, since).status_code == 200
    )
    from django.core.cache import cache

    from recovery.sync.services import _pushes_key

    key = _pushes_key(patient.pk)
    remembered = cache.get(key)
    assert push(client, body, since).status_code == 200
    cache.set(key, [(low, high, who + 1000) for low, high, who in remembered])
    assert push(client, body, since).status_code == 409
    cache.delete(key)
    assert push(client, body, since).status_code == 409


def test_delete_and_unknown_deletes(api, patient):
    log = f.pain_log(patient)
    client = api(patient.user)
    since = synced(client)
    response = push(client, changes(pain_logs={"deleted": [log.id, "never-existed"]}), since)
    assert response.status_code == 200, response.content
    assert PainLog.all_objects.get(pk=log.id).deleted_at is not None
    assert pull(client, since).json()["changes"]["pain_logs"]["deleted"] == [log.id]
    # deleting it again (a retried push) is harmless
    assert push(client, changes(pain_logs={"deleted": [log.id]}), synced(client)).status_code == 200


def test_conflict_fails_the_whole_push(api, patient):
    mine = f.pain_log(patient)
    client = api(patient.user)
    since = synced(client)
    record_update(PAIN_LOGS, actor=patient.user, record=mine, intensity=2)  # another device
    response = push(
        client,
        changes(
            pain_logs={"created": [pain_raw("new1")], "updated": [pain_raw(mine.id, intensity=9)]}
        ),
        since,
    )
    assert response.status_code == 409
    body = response.json()
    assert body["conflicts"] == {"pain_logs": [mine.id]}
    assert body["errors"][0]["code"] == "conflict"
    assert body["errors"][0]["attr"] == f"pain_logs.{mine.id}"
    assert not PainLog.all_objects.filter(pk="new1").exists()
    assert PainLog.objects.get(pk=mine.id).intensity == 2
    # after a pull the same push goes through
    assert (
        push(
            client, changes(pain_logs={"updated": [pain_raw(mine.id, intensity=9)]}), synced(client)
        ).status_code
        == 200
    )
    assert PainLog.objects.get(pk=mine.id).intensity == 9


def test_deleting_a_record_changed_since_the_pull_is_a_conflict(api, patient):
    mine = f.pain_log(patient)
    client = api(patient.user)
    since = synced(client)
    record_update(PAIN_LOGS, actor=patient.user, record=mine, notes="edited elsewhere")
    response = push(client, changes(pain_logs={"deleted": [mine.id]}), since)
    assert response.status_code == 409
    assert PainLog.objects.filter(pk=mine.id).exists()


def test_updating_a_deleted_record_is_a_conflict(api, patient):
    gone = f.pain_log(patient)
    record_delete(PAIN_LOGS, actor=patient.user, record=gone)
    client = api(patient.user)
    since = synced(client)
    response = push(client, changes(pain_logs={"updated": [pain_raw(gone.id)]}), since)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "deleted"
    assert response.json()["conflicts"] == {"pain_logs": [gone.id]}
    assert PainLog.all_objects.get(pk=gone.id).deleted_at is not None


def test_a_record_of_a_table_the_patient_may_not_write_is_refused_alone(api, patient, surgeon):
    client = api(patient.user)
    since = synced(client)
    raw = {"id": "appt1", "starts_at": now_ms(timedelta(days=2)), "purpose": "follow_up"}
    response = push(
        client,
        changes(
            pain_logs={"created": [pain_raw("log1")]},
            appointments={"created": [raw]},
            restrictions={},
        ),
        since,
    )
    assert refused(response) == {
        "appointments.appt1": [("appointments.appt1", "permission_denied")]
    }
    assert "appointments" in response.json()["rejected"][0]["errors"][0]["detail"]
    assert PainLog.objects.filter(pk="log1").exists()  # the rest of the push applies
    assert not Appointment.all_objects.exists()
    kept = RejectedRecord.objects.get()
    assert (kept.table_name, kept.record_id, kept.raw) == ("appointments", "appt1", raw)


def test_empty_sections_of_read_only_tables_are_fine(api, patient):
    client = api(patient.user)
    body = {
        name: {"created": [], "updated": [], "deleted": []}
        for name in pull(client).json()["changes"]
    }
    body["pain_logs"]["created"] = [pain_raw("x1")]
    assert push(client, body, synced(client)).status_code == 200
    assert PainLog.objects.filter(pk="x1").exists()


def test_patient_marks_a_care_team_milestone_achieved_but_cannot_rename_it(api, patient, surgeon):
    goal = f.milestone(patient, surgeon, target_on=timezone.localdate())
    client = api(patient.user)
    raw = next(
        r for r in pull(client).json()["changes"]["milestones"]["updated"] if r["id"] == goal.id
    )
    since = synced(client)
    today = timezone.localdate().isoformat()
    assert (
        push(
            client, changes(milestones={"updated": [{**raw, "achieved_on": today}]}), since
        ).status_code
        == 200
    )
    assert Milestone.objects.get(pk=goal.id).achieved_on.isoformat() == today

    raw = next(
        r for r in pull(client).json()["changes"]["milestones"]["updated"] if r["id"] == goal.id
    )
    response = push(
        client, changes(milestones={"updated": [{**raw, "title": "Mine now"}]}), synced(client)
    )
    assert refused(response) == {
        f"milestones.{goal.id}": [(f"milestones.{goal.id}", "permission_denied")]
    }
    assert Milestone.objects.get(pk=goal.id).title == "Walk to the mailbox"


def test_patient_cannot_change_a_session_the_care_team_planned(api, patient, surgeon):
    session = f.pt_session(patient, surgeon)
    client = api(patient.user)
    raw = pull(client).json()["changes"]["pt_sessions"]["updated"][0]
    response = push(
        client, changes(pt_sessions={"updated": [{**raw, "notes": "skipped"}]}), synced(client)
    )
    assert refused(response) == {
        f"pt_sessions.{session.id}": [(f"pt_sessions.{session.id}", "permission_denied")]
    }
    assert PTSession.objects.get(pk=session.id).notes == ""


def test_unchanged_read_only_columns_are_ignored(api, patient, surgeon):
    """Whole records come back from the phone, with the server's own columns in them."""
    log = f.pain_log(patient)
    client = api(patient.user)
    raw = pull(client).json()["changes"]["pain_logs"]["updated"][0]
    version = PainLog.objects.get(pk=log.id).sync_version
    raw.update(updated_at=now_ms(), created_by="999", _status="updated", _changed="updated_at")
    assert push(client, changes(pain_logs={"updated": [raw]}), synced(client)).status_code == 200
    assert PainLog.objects.get(pk=log.id).sync_version == version  # nothing differed: no write


@pytest.mark.parametrize(
    ("raw", "attr", "code"),
    [
        (pain_raw("v1", intensity=11), "pain_logs.v1.intensity", "max_value"),
        (pain_raw("v1", intensity="7"), "pain_logs.v1.intensity", "invalid_type"),
        (pain_raw("v1", intensity=7.5), "pain_logs.v1.intensity", "invalid_type"),
        (pain_raw("v1", location="elbow"), "pain_logs.v1.location", "invalid_choice"),
        (pain_raw("v1", relief='["ice","magic"]'), "pain_logs.v1.relief", "invalid_choice"),
        (pain_raw("v1", relief="ice"), "pain_logs.v1.relief", "invalid_json"),
        (pain_raw("v1", relief='{"a": 1}'), "pain_logs.v1.relief", "invalid_type"),
        (
            pain_raw("v1", recorded_at="2025-01-01T10:00:00Z"),
            "pain_logs.v1.recorded_at",
            "invalid_type",
        ),
        (
            pain_raw("v1", recorded_at=now_ms(timedelta(days=5))),
            "pain_logs.v1.recorded_at",
            "in_future",
        ),
        (pain_raw("v1", recorded_at=-1), "pain_logs.v1.recorded_at", "out_of_range"),
        (pain_raw("v1", medication_taken="yes"), "pain_logs.v1.medication_taken", "invalid_type"),
        (pain_raw("v1", intensity=None), "pain_logs.v1.intensity", "null"),
        (pain_raw("v1", mood="grim"), "pain_logs.v1.mood", "unknown_column"),
        (pain_raw("bad id!"), "pain_logs.created[1].id", "invalid_id"),
        (pain_raw("x" * 37), "pain_logs.created[1].id", "invalid_id"),
        (pain_raw("v1", notes="x" * 2001), "pain_logs.v1.notes", "max_length"),
    ],
)
def test_invalid_values_are_refused_naming_table_id_and_field(api, patient, raw, attr, code):
    """A record the rules refuse is quarantined on its own; the rest of the push applies. A
    record that cannot be read at all (no valid id) is still a 400 for the whole push."""
    client = api(patient.user)
    response = push(
        client, changes(pain_logs={"created": [pain_raw("good1"), raw]}), synced(client)
    )
    if attr.startswith("pain_logs.created["):
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["type"] == "validation_error"
        assert {"attr": attr, "code": code} in [
            {"attr": e["attr"], "code": e["code"]} for e in body["errors"]
        ]
        assert not PainLog.all_objects.exists()
        return
    assert (attr, code) in refused(response)["pain_logs.v1"]
    assert list(PainLog.objects.values_list("id", flat=True)) == ["good1"]
    kept = RejectedRecord.objects.get()
    assert (kept.record_id, kept.raw, kept.user) == ("v1", raw, patient.user)


def test_invalid_date_and_milestone_values(api, patient):
    client = api(patient.user)
    raw = {
        "id": "m1",
        "title": "Drive",
        "kind": "drive",
        "target_on": "2025-02-30",
        "achieved_on": None,
        "notes": "",
    }
    response = push(client, changes(milestones={"created": [raw]}), synced(client))
    assert refused(response)["milestones.m1"][0][0] == "milestones.m1.target_on"
    assert not Milestone.all_objects.exists()


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"bogus_table": {"created": []}}, "bogus_table", "unknown_table"),
        ({"pain_logs": []}, "pain_logs", "invalid_type"),
        ({"pain_logs": {"created": [], "moved": []}}, "pain_logs", "invalid_type"),
        ({"pain_logs": {"created": {}}}, "pain_logs.created", "invalid_type"),
        ({"pain_logs": {"created": ["abc"]}}, "pain_logs.created[0]", "invalid_type"),
        ({"pain_logs": {"deleted": [5]}}, "pain_logs.deleted[0]", "invalid_id"),
        ({"pain_logs": {"created": [{"intensity": 3}]}}, "pain_logs.created[0].id", "invalid_id"),
        ([], None, "invalid_type"),
        ("text", None, "invalid_type"),
    ],
)
def test_malformed_bodies_are_a_clear_400(api, patient, body, attr, code):
    client = api(patient.user)
    response = push(client, body, synced(client))
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["attr"] == attr
    assert response.json()["errors"][0]["code"] == code


def test_the_same_id_twice_in_one_push_is_refused(api, patient):
    client = api(patient.user)
    body = changes(pain_logs={"created": [pain_raw("twice")], "deleted": ["twice"]})
    response = push(client, body, synced(client))
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "duplicate_id",
        "detail": "This id appears twice in the push (created and deleted).",
        "attr": "pain_logs.twice",
    }


def test_malformed_json_is_a_400(api, patient):
    client = api(patient.user)
    since = synced(client)
    response = client.post(
        f"{PUSH}?last_pulled_at={since}", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("last_pulled_at", "code"), [(None, "never_pulled"), ("soon", "invalid"), ("", "never_pulled")]
)
def test_push_needs_a_pull_first(api, patient, last_pulled_at, code):
    client = api(patient.user)
    url = PUSH if last_pulled_at is None else f"{PUSH}?last_pulled_at={last_pulled_at}"
    response = client.post(
        url,
        data=json.dumps(changes(pain_logs={"created": [pain_raw("p1")]})),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "last_pulled_at"
    assert response.json()["errors"][0]["code"] == code
    assert not PainLog.all_objects.exists()


def test_last_pulled_at_in_the_future_is_refused_on_push(api, patient):
    client = api(patient.user)
    future = PatientClock.objects.get(patient=patient).value + 10_000
    response = push(client, changes(pain_logs={"created": [pain_raw("p1")]}), future)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "in_future"
    assert not PainLog.all_objects.exists()


def test_another_patients_id(api, patient, other_patient):
    theirs = f.pain_log(other_patient, intensity=3)
    client = api(patient.user)
    since = synced(client)
    response = push(
        client, changes(pain_logs={"updated": [pain_raw(theirs.id, intensity=10)]}), since
    )
    assert refused(response) == {
        f"pain_logs.{theirs.id}": [(f"pain_logs.{theirs.id}.id", "id_taken")]
    }
    assert "intensity" not in json.dumps(response.json())  # nothing of theirs is shown
    # deleting it is ignored as an unknown id
    assert push(client, changes(pain_logs={"deleted": [theirs.id]}), since).status_code == 200
    stored = PainLog.objects.get(pk=theirs.id)
    assert stored.intensity == 3
    assert stored.patient == other_patient


@override_settings(SYNC_PUSH_MAX_RECORDS=3)
def test_too_many_records_is_a_413(api, patient):
    client = api(patient.user)
    body = changes(pain_logs={"created": [pain_raw(f"r{n}") for n in range(4)]})
    response = push(client, body, synced(client))
    assert response.status_code == 413
    assert response.json()["max_records"] == 3
    assert not PainLog.all_objects.exists()


@override_settings(SYNC_PUSH_MAX_BYTES=2000)
def test_too_many_bytes_is_a_413(api, patient):
    client = api(patient.user)
    body = changes(pain_logs={"created": [pain_raw("big", notes="x" * 1900)]})
    response = push(client, body, synced(client))
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"
    assert response.json()["max_bytes"] == 2000
    assert not PainLog.all_objects.exists()


class Trickle:
    """A WSGI server's decoded chunked body: no Content-Length, read in small pieces."""

    def __init__(self, data: bytes, piece: int = 100):
        self.data, self.piece, self.read_bytes = data, piece, 0

    def read(self, size=-1):
        size = self.piece if size is None or size < 0 else min(size, self.piece)
        part = self.data[self.read_bytes : self.read_bytes + size]
        self.read_bytes += len(part)
        return part

    def readline(self, size=-1):
        return self.read(size)


def chunked_push(client, changes, last_pulled_at):
    stream = Trickle(json.dumps(changes).encode())
    response = client.post(
        f"{PUSH}?last_pulled_at={last_pulled_at}",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream},
    )
    return response, stream


def test_a_chunked_push_is_read_whole(api, patient):
    client = api(patient.user)
    body = changes(pain_logs={"created": [pain_raw(f"ch{n}", notes="n" * 50) for n in range(20)]})
    response, _ = chunked_push(client, body, synced(client))
    assert response.status_code == 200, response.content
    assert PainLog.objects.filter(pk__startswith="ch").count() == 20


@override_settings(SYNC_PUSH_MAX_BYTES=2000, API_CHUNKED_BODY_MAX_BYTES=3000)
def test_a_chunked_push_over_the_limit_is_a_413_read_no_further(api, patient):
    client = api(patient.user)
    body = changes(pain_logs={"created": [pain_raw(f"big{n}", notes="x" * 1900) for n in range(5)]})
    response, stream = chunked_push(client, body, synced(client))
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"
    assert response.json()["max_bytes"] == 2000
    assert stream.read_bytes == 3001  # one byte past the largest body, not the whole body
    assert not PainLog.all_objects.exists()


def test_clinicians_cannot_push(api, patient, surgeon):
    response = push(api(surgeon), changes(pain_logs={"created": [pain_raw("c1")]}), 1)
    assert response.status_code == 403
    assert not PainLog.all_objects.exists()


def test_restriction_from_a_clinician_is_read_only_on_the_phone(api, patient, surgeon):
    rule = f.restriction(patient, surgeon)
    client = api(patient.user)
    raw = pull(client).json()["changes"]["restrictions"]["updated"][0]
    response = push(
        client, changes(restrictions={"updated": [{**raw, "limit_value": 50}]}), synced(client)
    )
    assert list(refused(response)) == [f"restrictions.{rule.id}"]
    assert ActivityRestriction.objects.get(pk=rule.id).limit_value == 10


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        (
            b'{"pain_logs": {"created": [{"id": "n1", "notes": "a\\u0000b"}]}}',
            "pain_logs.n1.notes",
            "null_characters_not_allowed",
        ),
        (
            b'{"pain_logs": {"created": [{"id": "n1", "relief": "[\\"\\\\u0000\\"]"}]}}',
            "pain_logs.n1.relief",
            "null_characters_not_allowed",
        ),
        (b'{"pain_logs": {"created": [{"id": "n1", "notes": "\\ud800"}]}}', None, "parse_error"),
        (b"[" * 5000 + b"]" * 5000, None, "parse_error"),
        (b'{"pain_logs": {"created": [{"id": "n1", "intensity": NaN}]}}', None, "parse_error"),
        (
            b'{"pain_logs": {"created": [{"id": "n1", "recorded_at": 123456789012345678901234567890}]}}',
            "pain_logs.n1.recorded_at",
            "out_of_range",
        ),
        (b"\xff\xfe", None, "parse_error"),
    ],
)
def test_hostile_bodies_are_a_400_not_a_500(api, patient, body, attr, code):
    client = api(patient.user)
    response = client.post(
        f"{PUSH}?last_pulled_at={synced(client)}", data=body, content_type="application/json"
    )
    if attr is not None:  # a readable record with a bad value: refused on its own
        assert (attr, code) in refused(response)["pain_logs.n1"]
        assert not PainLog.all_objects.exists()
        return
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == (attr, code)
    assert not PainLog.all_objects.exists()


@pytest.mark.parametrize("value", ["٣٤", "1_000", " 12", "0x10", "12.0"])
def test_timestamps_are_plain_ascii_integers(api, patient, value):
    response = api(patient.user).get(
        "/api/v1/sync/pull/", {"last_pulled_at": value, "schema_version": "2"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "last_pulled_at"


def test_push_uses_the_kind_installed_at_write_time(api, patient, monkeypatch):
    """Reminder planning is installed on the RecordKinds by other modules; sync must not hold on
    to the kinds it saw at import."""
    import dataclasses

    from recovery.record.writes import RECORD_KINDS

    calls = []

    def recorder(record, action, *rest):
        calls.append((record.pk, action))

    kind = RECORD_KINDS["pain_logs"]
    planned = dataclasses.replace(kind, after_write=(*kind.after_write, recorder))
    monkeypatch.setitem(RECORD_KINDS, "pain_logs", planned)
    client = api(patient.user)
    since = synced(client)
    assert push(client, changes(pain_logs={"created": [pain_raw("k1")]}), since).status_code == 200
    assert push(client, changes(pain_logs={"deleted": ["k1"]}), synced(client)).status_code == 200
    assert calls == [("k1", "create"), ("k1", "delete")]
