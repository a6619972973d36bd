"""``records_update`` writes many rows in one statement (``_update_many``): on PostgreSQL an
``UPDATE ... FROM (VALUES ...)`` joined on the primary key, elsewhere Django's ``bulk_update``.
Each row gets exactly its own values, field by field, whatever the column type (dates,
datetimes, foreign keys, JSON, booleans, nulls), and nothing else changes. These tests run on
the database the suite runs on (PostgreSQL in CI; ``DATABASE_URL=sqlite:///...`` for the
fallback)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PatientClock
from recovery.models import PainLog, PTSession, Surgery
from recovery.record.kinds import PAIN_LOGS, PT_SESSIONS, SURGERIES
from recovery.record.writes import records_update
from tests import factories as f

pytestmark = pytest.mark.django_db

COLUMNS = {
    PainLog: ("recorded_at", "intensity", "location", "medication_taken", "relief", "notes"),
    PTSession: (
        "scheduled_for",
        "performed_at",
        "status",
        "duration_minutes",
        "exercises",
        "pain_before",
        "notes",
    ),
    Surgery: ("performed_on", "levels", "is_revision", "revision_reasons", "surgeon_id"),
}


def _state(row):
    return {name: getattr(row, name) for name in COLUMNS[type(row)]}


def _fresh(row):
    return type(row).all_objects.get(pk=row.pk)


def test_each_row_gets_its_own_values_field_by_field(patient):
    now = timezone.now().replace(microsecond=0)
    logs = [
        f.pain_log(patient, intensity=n, recorded_at=now - timedelta(hours=n)) for n in (1, 2, 3)
    ]
    untouched = f.pain_log(patient, intensity=9, notes="keep me")
    before = {row.pk: _state(_fresh(row)) for row in [*logs, untouched]}
    changes = [
        {"intensity": 7},
        {"notes": "after the walk", "relief": ["ice", "rest"], "medication_taken": True},
        {"recorded_at": now - timedelta(days=1), "location": "leg"},
    ]
    result = records_update(
        PAIN_LOGS, actor=patient.user, items=list(zip(logs, changes, strict=True))
    )
    assert result.refused == {} and all(result.written)
    clock = PatientClock.objects.get(patient=patient).value
    for row, values in zip(logs, changes, strict=True):
        stored = _fresh(row)
        assert _state(stored) == {**before[row.pk], **values}
        assert stored.sync_version == clock
        assert stored.created_by_id == patient.user_id  # server columns kept
        assert stored.deleted_at is None
    assert _state(_fresh(untouched)) == before[untouched.pk]
    assert _fresh(untouched).sync_version < clock


def test_nulls_json_foreign_keys_and_dates(patient, surgeon):
    other = f.StaffFactory(clinic=patient.clinic, role="surgeon")
    done = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    sessions = [f.pt_session(patient, surgeon, pain_before=4) for _ in range(2)]
    records_update(
        PT_SESSIONS,
        actor=surgeon,
        items=[
            (
                sessions[0],
                {
                    "performed_at": done,
                    "status": "completed",
                    "pain_before": None,
                    "exercises": [{"name": "walk", "minutes": 20}],
                },
            ),
            (sessions[1], {"duration_minutes": 45, "notes": "ünïcode, 'quotes' and %s"}),
        ],
    )
    first, second = _fresh(sessions[0]), _fresh(sessions[1])
    assert (first.performed_at, first.status, first.pain_before) == (done, "completed", None)
    assert first.exercises == [{"name": "walk", "minutes": 20}]
    assert (second.duration_minutes, second.notes) == (45, "ünïcode, 'quotes' and %s")
    assert second.pain_before == 4 and second.performed_at is None

    surgeries = [
        f.surgery(patient, surgeon),
        f.surgery(patient, surgeon, is_revision=False, revision_reasons=[]),
    ]
    day = timezone.localdate() - timedelta(days=40)
    records_update(
        SURGERIES,
        actor=surgeon,
        items=[
            (surgeries[0], {"surgeon": other, "performed_on": day}),
            (
                surgeries[1],
                {"levels": "L5-S1", "is_revision": True, "revision_reasons": ["pseudarthrosis"]},
            ),
        ],
    )
    a, b = _fresh(surgeries[0]), _fresh(surgeries[1])
    assert (a.surgeon_id, a.performed_on, a.levels) == (other.pk, day, "L4-L5")
    assert (b.surgeon_id, b.levels, b.revision_reasons, b.is_revision) == (
        surgeon.pk,
        "L5-S1",
        ["pseudarthrosis"],
        True,
    )


def test_a_refusal_writes_nothing_of_the_batch(patient, surgeon):
    logs = [f.pain_log(patient, intensity=2) for _ in range(3)]
    theirs = f.pain_log(patient, actor=surgeon, intensity=2)  # the care team's entry
    result = records_update(
        PAIN_LOGS,
        actor=patient.user,
        items=[(logs[0], {"intensity": 5}), (theirs, {"intensity": 5}), (logs[1], {"notes": "x"})],
    )
    assert set(result.refused) == {1}
    assert [_fresh(row).intensity for row in [*logs, theirs]] == [2, 2, 2, 2]
    assert _fresh(logs[1]).notes == ""


def test_a_deleted_row_is_refused_and_the_rest_written_when_partial(patient):
    logs = [f.pain_log(patient, intensity=2) for _ in range(2)]
    PainLog.all_objects.filter(pk=logs[1].pk).update(deleted_at=timezone.now())
    result = records_update(
        PAIN_LOGS,
        actor=patient.user,
        items=[(logs[0], {"intensity": 6}), (logs[1], {"intensity": 6})],
        partial=True,
    )
    assert list(result.refused) == [1] and result.written == [True, False]
    assert (_fresh(logs[0]).intensity, _fresh(logs[1]).intensity) == (6, 2)


def test_update_queries_do_not_grow_with_the_rows(patient):
    def count(n):
        logs = [f.pain_log(patient, intensity=1) for _ in range(n)]
        with CaptureQueriesContext(connection) as queries:
            records_update(
                PAIN_LOGS, actor=patient.user, items=[(row, {"intensity": 4}) for row in logs]
            )
        return queries

    few, many = count(3), count(30)
    assert len(few) == len(many)
    updates = [q["sql"] for q in many if q["sql"].startswith("UPDATE")]
    assert updates, "the rows are written"
    if connection.vendor == "postgresql":
        assert all("CASE WHEN" not in sql for sql in updates)
        assert any("FROM (VALUES" in sql for sql in updates)


@pytest.mark.postgres
def test_large_batches_are_split_within_the_parameter_limit(patient, monkeypatch):
    from recovery.record import writes

    monkeypatch.setattr(writes, "BULK_BATCH_SIZE", 4)
    logs = [f.pain_log(patient, intensity=1) for _ in range(10)]
    with CaptureQueriesContext(connection) as queries:
        records_update(
            PAIN_LOGS,
            actor=patient.user,
            items=[(row, {"intensity": n % 10}) for n, row in enumerate(logs)],
        )
    assert sum("FROM (VALUES" in q["sql"] for q in queries) == 3  # 4 + 4 + 2
    assert [_fresh(row).intensity for row in logs] == [n % 10 for n in range(10)]


def test_a_stale_conflict_still_refuses_the_whole_push(api, patient):
    """A sync push with an update of a row changed since the phone's pull is a 409, and
    nothing of the push is written (the fast update changed nothing of the conflict check)."""
    from tests.recovery.sync.helpers import pull, push

    client = api(patient.user)
    logs = [f.pain_log(patient, intensity=1) for _ in range(2)]
    since = pull(client).json()["timestamp"]
    records_update(PAIN_LOGS, actor=patient.user, items=[(logs[1], {"intensity": 3})])
    body = {
        "pain_logs": {
            "created": [],
            "updated": [
                {"id": row.pk, "intensity": 8, "_status": "updated", "_changed": "intensity"}
                for row in logs
            ],
            "deleted": [],
        }
    }
    response = push(client, body, since)
    assert response.status_code == 409, response.content
    assert [_fresh(row).intensity for row in logs] == [1, 3]
