"""A push writes each table's rows in one batch (issue 18 item 4): the query count does not grow
with the number of records, and every rule of the single write path still applies (role rules,
validation messages, red-flag triage, reminder planning)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.care.models import Alert
from recovery.models import Milestone, PainLog, PTSession
from recovery.record.kinds import MILESTONES, PAIN_LOGS, PT_SESSIONS, RESTRICTIONS
from recovery.record.writes import record_create, records_create
from reminders.models import Reminder
from tests import factories as f

from .helpers import changes, ms, pull, push

pytestmark = pytest.mark.django_db


def synced(client):
    return pull(client).json()["timestamp"]


def _pain(id, at, intensity):
    return {
        "id": id,
        "recorded_at": ms(at),
        "intensity": intensity,
        "location": "back",
        "medication_taken": False,
        "relief": '["ice"]',
        "notes": "",
        "_status": "created",
        "_changed": "",
    }


def _session(id, at):
    return {
        "id": id,
        "scheduled_for": ms(at),
        "performed_at": None,
        "status": "planned",
        "setting": "home",
        "duration_minutes": 30,
        "exercises": '[{"name": "bridges", "sets": 3, "reps": 10}]',
        "pain_before": None,
        "pain_after": None,
        "exertion": None,
        "notes": "",
    }


def _milestone(id, on):
    return {
        "id": id,
        "title": f"Walk {id}",
        "kind": "walk_unaided",
        "target_on": on.isoformat(),
        "achieved_on": None,
        "notes": "",
    }


def _push_of(n: int, prefix: str) -> dict:
    now = timezone.now()
    return changes(
        pain_logs={
            "created": [
                _pain(f"{prefix}p{i}", now - timedelta(hours=n - i), 3 + i % 6) for i in range(n)
            ]
        },
        pt_sessions={
            "created": [
                _session(f"{prefix}s{i}", now + timedelta(days=2, hours=i)) for i in range(n)
            ]
        },
        milestones={
            "created": [
                _milestone(f"{prefix}m{i}", timezone.localdate() + timedelta(days=10 + i))
                for i in range(n)
            ]
        },
    )


def _queries(client, body, since) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = push(client, body, since)
    assert response.status_code == 200, response.content
    return len(captured)


def test_a_push_costs_the_same_queries_for_10_and_100_records_per_table(api, patient):
    client = api(patient.user)
    small = _queries(client, _push_of(10, "a"), synced(client))
    large = _queries(client, _push_of(100, "b"), synced(client))
    assert PainLog.objects.count() == 110
    assert PTSession.objects.count() == 110
    assert Reminder.objects.filter(kind="pt_session").count() > 100
    assert small == large, (small, large)

    # ... and so do updates and deletes of as many rows
    def edits(prefix, n):
        body = pull(client).json()["changes"]
        logs = [r for r in body["pain_logs"]["updated"] if r["id"].startswith(prefix)][:n]
        goals = [r for r in body["milestones"]["updated"] if r["id"].startswith(prefix)][:n]
        return changes(
            pain_logs={"updated": [{**r, "notes": "edited"} for r in logs]},
            milestones={"updated": [{**r, "target_on": None} for r in goals]},
            pt_sessions={"deleted": [f"{prefix}s{i}" for i in range(n)]},
        )

    small = _queries(client, edits("a", 10), synced(client))
    large = _queries(client, edits("b", 100), synced(client))
    assert PainLog.objects.filter(notes="edited").count() == 110
    assert not PTSession.objects.exists()
    assert not Reminder.objects.filter(kind__in=["pt_session", "milestone"], status="pending")
    assert small == large, (small, large)


def _alerts(patient, prefix):
    return sorted(
        (a.rule_key, a.source_id.removeprefix(prefix), a.detail, a.tier)
        for a in Alert.objects.filter(patient=patient)
    )


def _reminders(patient, prefix):
    rows = Reminder.objects.filter(patient=patient)
    return sorted(
        (
            r.kind,
            r.cause_type,
            r.cause_id.removeprefix(prefix).removeprefix(f"{patient.pk}:"),
            r.channel,
            r.status,
            r.due_at,
            r.title.replace(prefix, ""),
        )
        for r in rows
    )


def test_a_batched_push_raises_the_same_alerts_and_reminders_as_single_writes(
    api, patient, other_patient
):
    """The same records, pushed at once by one patient and written one by one (in time order,
    through ``record_create``) for another: the same alerts with the same details, the same
    reminders planned, moved or cancelled."""
    now = timezone.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the wire carries ms
    # High pain three times in a row (the streak), after a calm week (the 7-day trend), over
    # several local days (each day's check-in reminder is satisfied).
    logs = [(now - timedelta(days=d, hours=2), 3) for d in range(13, 7, -1)]
    logs += [(now - timedelta(days=d, hours=1), 7) for d in range(6, 0, -1)]
    logs += [(now - timedelta(hours=h), 8) for h in (5, 3, 1)]
    sessions = [now + timedelta(days=3, hours=i) for i in range(3)]
    goals = [timezone.localdate() + timedelta(days=5 + i) for i in range(3)]

    def body(prefix):
        return changes(
            pain_logs={
                "created": [_pain(f"{prefix}{i}", at, value) for i, (at, value) in enumerate(logs)]
            },
            pt_sessions={
                "created": [_session(f"{prefix}s{i}", at) for i, at in enumerate(sessions)]
            },
            milestones={"created": [_milestone(f"{prefix}m{i}", on) for i, on in enumerate(goals)]},
        )

    client = api(patient.user)
    assert push(client, body("A"), synced(client)).status_code == 200

    user = other_patient.user
    for i, (at, value) in enumerate(logs):
        record_create(
            PAIN_LOGS,
            actor=user,
            patient=other_patient,
            id=f"B{i}",
            recorded_at=at,
            intensity=value,
            location="back",
            relief=["ice"],
        )
    for i, at in enumerate(sessions):
        record_create(
            PT_SESSIONS,
            actor=user,
            patient=other_patient,
            id=f"Bs{i}",
            scheduled_for=at,
            duration_minutes=30,
            exercises=[{"name": "bridges", "sets": 3, "reps": 10}],
        )
    for i, on in enumerate(goals):
        record_create(
            MILESTONES,
            actor=user,
            patient=other_patient,
            id=f"Bm{i}",
            title=f"Walk Bm{i}",
            kind="walk_unaided",
            target_on=on,
        )

    batched = _alerts(patient, "A")
    assert {a[0] for a in batched} == {"pain-streak", "pain-trend"}
    assert batched == _alerts(other_patient, "B")
    planned = _reminders(patient, "A")
    assert {r[0] for r in planned} >= {"pt_session", "milestone", "daily_checkin"}
    assert planned == _reminders(other_patient, "B")


def test_a_batch_refuses_with_the_messages_of_full_clean(patient, surgeon):
    """Validation in the batch path (CHECK constraints judged in Python, foreign keys in one
    query) says what ``full_clean()`` says of each record."""
    now = timezone.now()
    cases = [
        (PT_SESSIONS, patient.user, {"status": "completed", "scheduled_for": now}),
        (PT_SESSIONS, patient.user, {"scheduled_for": None, "performed_at": None}),
        (PT_SESSIONS, patient.user, {"scheduled_for": now, "pain_before": 11, "exertion": 12}),
        (PAIN_LOGS, patient.user, {"recorded_at": now, "intensity": 11, "location": "elbow"}),
        (
            RESTRICTIONS,
            surgeon,
            {
                "activity": "lifting",
                "starts_on": timezone.localdate(),
                "ends_on": timezone.localdate() - timedelta(days=3),
                "limit_value": 10,
            },
        ),
    ]
    for spec, actor, values in cases:
        result = records_create(spec, actor=actor, patient=patient, items=[("bad1", values)])
        refusal = result.refused[0]
        single = spec.model(patient=patient, created_by=actor, **values)
        with pytest.raises(ValidationError) as expected:
            single.full_clean(validate_unique=False)
        assert refusal.message_dict == expected.value.message_dict, values
    assert not PTSession.all_objects.exists()


def test_a_batch_checks_roles_per_row(api, patient, surgeon):
    """A patient's push that changes a care-team session is refused for that row, as a single
    write is (403's reason naming the record); the patient's own milestone still changes."""
    planned = f.pt_session(patient, surgeon)
    client = api(patient.user)
    raw = next(
        r for r in pull(client).json()["changes"]["pt_sessions"]["updated"] if r["id"] == planned.id
    )
    mine = f.milestone(patient, patient.user, target_on=timezone.localdate())
    goal = next(
        r for r in pull(client).json()["changes"]["milestones"]["updated"] if r["id"] == mine.id
    )
    response = push(
        client,
        changes(
            pt_sessions={"updated": [{**raw, "notes": "moved it"}]},
            milestones={"updated": [{**goal, "notes": "mine"}]},
        ),
        synced(client),
    )
    assert response.status_code == 200, response.content
    (refusal,) = response.json()["rejected"]
    assert refusal["errors"] == [
        {
            "code": "permission_denied",
            "detail": "This PT session was set by the care team.",
            "attr": f"pt_sessions.{planned.id}",
        }
    ]
    assert PTSession.objects.get(pk=planned.id).notes == ""
    assert Milestone.objects.get(pk=mine.id).notes == "mine"
