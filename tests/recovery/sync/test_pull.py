import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PatientClock
from recovery.models import PainLog
from recovery.record.kinds import HOSPITAL_STAYS, MILESTONES, PAIN_LOGS, RESTRICTIONS
from recovery.record.writes import record_create, record_delete, record_update
from tests import factories as f

from .helpers import ids, ms, pull, with_prepared_text

pytestmark = pytest.mark.django_db


def clock(patient) -> int:
    return PatientClock.objects.get(patient=patient).value


def test_first_pull_sends_every_live_row_under_updated(api, patient, surgeon, other_patient):
    log = f.pain_log(patient, relief=["ice", "brace"], notes="after walking")
    gone = f.pain_log(patient)
    record_delete(PAIN_LOGS, actor=patient.user, record=gone)
    rule = f.restriction(patient, surgeon, ends_on=timezone.localdate() + timedelta(days=30))
    op = f.surgery(patient, surgeon)
    f.pain_log(other_patient)

    response = pull(api(patient.user))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timestamp"] == clock(patient)
    assert set(body["changes"]) == {
        "surgeries",
        "hospital_stays",
        "pain_logs",
        "pt_sessions",
        "restrictions",
        "appointments",
        "milestones",
    }
    assert all(change["created"] == [] for change in body["changes"].values())
    assert ids(body, "pain_logs") == [log.id]  # no tombstone, no other patient's row
    assert body["changes"]["pain_logs"]["deleted"] == []
    raw = body["changes"]["pain_logs"]["updated"][0]
    assert json.loads(raw.pop("relief")) == ["ice", "brace"]
    assert raw == {
        "id": log.id,
        "recorded_at": ms(log.recorded_at),
        "intensity": 5,
        "location": "back",
        "medication_taken": False,
        "notes": "after walking",
        "created_by": str(patient.user.pk),
        "created_at": ms(log.created_at),
        "updated_at": ms(log.updated_at),
    }
    restriction = body["changes"]["restrictions"]["updated"][0]
    assert restriction["starts_on"] == rule.starts_on.isoformat()
    assert restriction["ends_on"] == rule.ends_on.isoformat()
    assert restriction["limit_value"] == 10.0
    assert restriction["lifted_on"] is None
    surgery = body["changes"]["surgeries"]["updated"][0]
    assert surgery["surgeon"] == str(surgeon.pk)
    assert json.loads(surgery["revision_reasons"]) == ["pseudarthrosis"]
    assert surgery["is_revision"] is True
    assert surgery["id"] == op.id


def test_incremental_pull_sends_changes_and_tombstones_since_last_pull(api, patient, surgeon):
    kept = f.pain_log(patient)
    changed = f.pain_log(patient)
    deleted = f.pain_log(patient)
    client = api(patient.user)
    first = pull(client).json()

    record_update(PAIN_LOGS, actor=patient.user, record=changed, intensity=8)
    record_delete(PAIN_LOGS, actor=patient.user, record=deleted)
    new = f.pain_log(patient)
    born_and_gone = f.pain_log(patient)
    record_delete(PAIN_LOGS, actor=patient.user, record=born_and_gone)

    body = pull(client, first["timestamp"]).json()

    assert body["timestamp"] > first["timestamp"]
    assert ids(body, "pain_logs") == sorted([changed.id, new.id])
    assert kept.id not in ids(body, "pain_logs")
    assert ids(body, "pain_logs", "deleted") == sorted([deleted.id, born_and_gone.id])
    assert body["changes"]["pain_logs"]["created"] == []
    again = pull(client, body["timestamp"]).json()
    assert all(
        c == {"created": [], "updated": [], "deleted": []} for c in again["changes"].values()
    )
    assert again["timestamp"] == body["timestamp"]


def test_clinician_edit_reaches_the_next_pull(api, patient, surgeon):
    rule = f.restriction(patient, surgeon)
    client = api(patient.user)
    first = pull(client).json()
    record_update(RESTRICTIONS, actor=surgeon, record=rule, limit_value=15)
    body = pull(client, first["timestamp"]).json()
    assert [r["limit_value"] for r in body["changes"]["restrictions"]["updated"]] == [15.0]


@pytest.mark.parametrize("role", ["surgeon", "nurse"])
def test_clinicians_do_not_sync(api, patient, surgeon, nurse, role):
    user = {"surgeon": surgeon, "nurse": nurse}[role]
    response = pull(api(user))
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"


def test_anonymous_is_refused(api):
    assert pull(api(None)).status_code == 401


@pytest.mark.parametrize(
    ("params", "attr", "code"),
    [
        ({"last_pulled_at": "yesterday"}, "last_pulled_at", "invalid"),
        ({"last_pulled_at": "-5"}, "last_pulled_at", "invalid"),
        ({"last_pulled_at": "1e9"}, "last_pulled_at", "invalid"),
        ({"schema_version": "0"}, "schema_version", "unsupported_schema_version"),
        (
            {"schema_version": str(settings.SYNC_SCHEMA_VERSION_MAX + 1)},
            "schema_version",
            "unsupported_schema_version",
        ),
        ({"schema_version": "two"}, "schema_version", "invalid"),
        ({"migration": "{not json"}, "migration", "invalid"),
        (
            {"migration": '{"from": 1, "tables": ["bogus"], "columns": []}'},
            "migration.tables",
            "unknown_table",
        ),
        ({"migration": '{"from": 2, "tables": [], "columns": []}'}, "migration.from", "invalid"),
        (
            {
                "migration": '{"from": 1, "tables": [], "columns": [{"table": "pain_logs", "columns": ["mood"]}]}'
            },
            "migration.columns.pain_logs",
            "unknown_column",
        ),
    ],
)
def test_bad_parameters_are_a_clear_400(api, patient, params, attr, code):
    query = {"last_pulled_at": "null", "schema_version": "2", "migration": "null", **params}
    response = api(patient.user).get("/api/v1/sync/pull/", query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == attr
    assert body["errors"][0]["code"] == code


def _columns(*entries):
    return {"from": 1, "tables": [], "columns": list(entries)}


@pytest.mark.parametrize(
    ("migration", "attr"),
    [
        # the object itself
        ([], "migration"),
        ("v1", "migration"),
        (1, "migration"),
        (True, "migration"),
        ({"from": 1, "tables": [], "columns": [], "extra": 1}, "migration"),
        # from
        ({"tables": [], "columns": []}, "migration.from"),
        ({"from": None, "tables": [], "columns": []}, "migration.from"),
        ({"from": "1", "tables": [], "columns": []}, "migration.from"),
        ({"from": 1.5, "tables": [], "columns": []}, "migration.from"),
        ({"from": True, "tables": [], "columns": []}, "migration.from"),
        ({"from": [1], "tables": [], "columns": []}, "migration.from"),
        ({"from": {"v": 1}, "tables": [], "columns": []}, "migration.from"),
        # tables and its items
        ({"from": 1, "tables": None, "columns": []}, "migration"),
        ({"from": 1, "tables": "pain_logs", "columns": []}, "migration"),
        ({"from": 1, "tables": {"pain_logs": 1}, "columns": []}, "migration"),
        ({"from": 1, "tables": [[1]], "columns": []}, "migration.tables"),
        ({"from": 1, "tables": [{"table": "pain_logs"}], "columns": []}, "migration.tables"),
        ({"from": 1, "tables": [1], "columns": []}, "migration.tables"),
        ({"from": 1, "tables": [None], "columns": []}, "migration.tables"),
        ({"from": 1, "tables": [True], "columns": []}, "migration.tables"),
        # columns and its entries
        ({"from": 1, "tables": [], "columns": None}, "migration"),
        ({"from": 1, "tables": [], "columns": "pain_logs"}, "migration"),
        ({"from": 1, "tables": [], "columns": {"table": "pain_logs", "columns": []}}, "migration"),
        (_columns("pain_logs"), "migration.columns"),
        (_columns(["pain_logs"]), "migration.columns"),
        (_columns(None), "migration.columns"),
        (_columns({}), "migration.columns"),
        (_columns({"columns": ["created_by"]}), "migration.columns"),
        (_columns({"table": "pain_logs"}), "migration.columns"),
        (
            _columns({"table": "pain_logs", "columns": ["created_by"], "more": 1}),
            "migration.columns",
        ),
        (_columns({"table": [1], "columns": ["x"]}), "migration.columns"),
        (_columns({"table": {"name": "pain_logs"}, "columns": ["x"]}), "migration.columns"),
        (_columns({"table": None, "columns": ["x"]}), "migration.columns"),
        (_columns({"table": 1, "columns": ["x"]}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": None}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": "created_by"}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": {"created_by": 1}}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": [["created_by"]]}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": [1]}), "migration.columns"),
        (_columns({"table": "pain_logs", "columns": [None]}), "migration.columns"),
        (
            _columns({"table": "pain_logs", "columns": [{"name": "created_by"}]}),
            "migration.columns",
        ),
    ],
)
def test_a_malformed_migration_is_a_400_naming_it(api, patient, migration, attr):
    query = {"last_pulled_at": "1", "schema_version": "2", "migration": json.dumps(migration)}
    response = api(patient.user).get("/api/v1/sync/pull/", query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["errors"][0]["attr"] == attr
    assert body["errors"][0]["code"] == "invalid"


def test_unsupported_schema_version_states_the_range(api, patient):
    response = api(patient.user).get(
        "/api/v1/sync/pull/", {"last_pulled_at": "null", "schema_version": 99}
    )
    assert response.status_code == 400
    assert response.json()["supported_schema_versions"] == {
        "min": 1,
        "max": settings.SYNC_SCHEMA_VERSION_MAX,
    }
    missing = api(patient.user).get("/api/v1/sync/pull/", {"last_pulled_at": "null"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "schema_version"


def test_last_pulled_at_in_the_future_is_refused(api, patient):
    response = pull(api(patient.user), clock(patient) + 1)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "in_future",
        "detail": "last_pulled_at is later than any timestamp this server handed out.",
        "attr": "last_pulled_at",
    }


def test_schema_version_1_has_no_created_by_column(api, patient):
    f.pain_log(patient)
    raw = pull(api(patient.user), schema_version=1).json()["changes"]["pain_logs"]["updated"][0]
    assert "created_by" not in raw
    assert "intensity" in raw


def test_migration_sends_the_named_tables_whole(api, patient, surgeon):
    old = f.pain_log(patient)
    goal = f.milestone(patient, surgeon)
    gone = f.pain_log(patient)
    client = api(patient.user)
    first = pull(client, schema_version=1).json()
    record_delete(PAIN_LOGS, actor=patient.user, record=gone)
    rule = f.restriction(patient, surgeon)

    migration = {
        "from": 1,
        "tables": [],
        "columns": [{"table": "pain_logs", "columns": ["created_by"]}],
    }
    body = pull(client, first["timestamp"], schema_version=2, migration=migration).json()

    assert ids(body, "pain_logs") == [
        old.id
    ]  # unchanged since the last pull, sent for the new column
    assert body["changes"]["pain_logs"]["updated"][0]["created_by"] == str(patient.user.pk)
    assert ids(body, "pain_logs", "deleted") == [gone.id]
    assert ids(body, "milestones") == []  # not named: incremental as usual
    assert goal.id not in ids(body, "milestones")
    assert ids(body, "restrictions") == [rule.id]

    whole = pull(
        client, body["timestamp"], migration={"from": 1, "tables": ["milestones"], "columns": []}
    ).json()
    assert ids(whole, "milestones") == [goal.id]
    assert ids(whole, "pain_logs") == []


def _incremental_pull_queries(api, patient, surgeon, history_days):
    f.year_of_history(patient, surgeon, days=history_days, per_day=3)
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    for n in range(20):
        f.pain_log(patient, intensity=n % 11)
    with CaptureQueriesContext(connection) as queries:
        body = pull(client, since).json()
    assert len(body["changes"]["pain_logs"]["updated"]) == 20
    return len(queries)


@pytest.mark.parametrize("history_days", [5, 120])
def test_incremental_pull_query_count_is_bounded(
    api, patient, surgeon, history_days, django_assert_max_num_queries
):
    f.year_of_history(patient, surgeon, days=history_days, per_day=3)
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    for n in range(20):
        f.pain_log(patient, intensity=n % 11)
    # Elsewhere: the user, the clock, one query per table, the refused records (+ savepoints).
    with django_assert_max_num_queries(12):
        body = pull(client, since).json()
    assert len(body["changes"]["pain_logs"]["updated"]) == 20


@pytest.mark.postgres
def test_incremental_pull_is_one_query_on_postgresql(
    api, patient, surgeon, django_assert_num_queries
):
    """One statement batch: the user (authentication), the clock under its lock, every table,
    the refused records (docs/sync.md, "How the incremental pull stays cheap")."""
    f.year_of_history(patient, surgeon, days=5, per_day=3)
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    for n in range(3):
        f.pain_log(patient, intensity=n)
    with django_assert_num_queries(1) as captured:
        body = pull(client, since).json()
    assert len(body["changes"]["pain_logs"]["updated"]) == 3
    (batch,) = [q["sql"] for q in captured.captured_queries]
    assert batch.startswith('SELECT "accounts_user"')
    batch = with_prepared_text(batch)  # the pull's statements run prepared
    assert "FOR UPDATE" in batch and "recovery_rejected_record" in batch


def test_query_count_is_the_same_for_short_and_long_histories(api, surgeon, clinic, nurse):
    from tests.factories import PatientFactory

    short = PatientFactory(clinic=clinic, surgeon=surgeon)
    long = PatientFactory(clinic=clinic, surgeon=surgeon)
    assert _incremental_pull_queries(api, short, surgeon, 3) == _incremental_pull_queries(
        api, long, surgeon, 90
    )


def test_pull_sees_pain_logs_of_the_patient_only(api, patient, other_patient):
    f.pain_log(other_patient)
    body = pull(api(patient.user)).json()
    assert body["changes"]["pain_logs"]["updated"] == []
    assert PainLog.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["first", "since", "whole"])
def test_postgresql_fast_path_sends_what_the_codecs_send(patient, surgeon, mode):
    """The SQL conversions (pg_sql) and the Python codecs (to_wire) agree, value for value."""
    from recovery.sync import selectors
    from recovery.sync.tables import JsonList

    odd_time = timezone.now().replace(microsecond=999_999) - timedelta(days=400)
    f.pain_log(patient, recorded_at=odd_time, relief=["walking", "ice"], notes="ünïcode ✓")
    f.pain_log(patient, recorded_at=odd_time.replace(microsecond=500))
    taken = f.medication(patient, started_on=odd_time.date(), dose="5 mg ✓")
    f.pain_log(patient, medications=[taken.pk])
    f.pt_session(
        patient,
        surgeon,
        exercises=[{"name": "walk", "minutes": 12.5}, {"name": "bridges", "sets": 3, "reps": 10}],
    )
    f.restriction(patient, surgeon, limit_value="12.25", ends_on=None)
    op = f.surgery(patient, surgeon, performed_on=timezone.localdate().replace(year=999))
    record_create(HOSPITAL_STAYS, actor=surgeon, patient=patient, surgery=op, admitted_at=odd_time)
    f.appointment(patient, surgeon, ends_at=None)
    gone = f.milestone(patient, surgeon, target_on=None)
    record_delete(MILESTONES, actor=surgeon, record=gone)
    from reminders.services import notification_create

    notification_create(
        patient_id=patient.pk, kind="appointment", title="Wound check", due_at=odd_time
    )
    f.daily_steps(patient, steps=0)  # version 5; 0 is a value, not an absence
    from recovery.photos.services import wound_photo_upload
    from recovery.photos.storage import file_token_load
    from recovery.sync.tables import SignedFile
    from tests.recovery.photos.images import jpeg_with_gps

    wound_photo_upload(
        actor=patient.user, patient=patient, data=jpeg_with_gps(), content_type="image/jpeg"
    )
    since = 0 if mode != "first" else None

    def key(url):  # a signed URL names its file; its signing second may differ between reads
        return url and file_token_load(url.rstrip("/").rsplit("/", 1)[1])

    def normal(table, rows):
        lists = [c.name for c in table.columns if isinstance(c.codec, JsonList)]
        files = [c.name for c in table.columns if isinstance(c.codec, SignedFile)]
        return sorted(
            (
                {
                    **r,
                    **{n: json.loads(r[n]) for n in lists if n in r},
                    **{n: key(r[n]) for n in files if n in r},
                }
                for r in rows
            ),
            key=lambda r: r["id"],
        )

    tables = list(selectors.SYNC_TABLES.values())
    for version in range(1, settings.SYNC_SCHEMA_VERSION_MAX + 1):
        wanted = [(table, mode) for table in tables]
        fast_all = list(selectors._read_postgresql(wanted, version, patient.pk, since))
        orm_all = list(selectors._read_orm(wanted, version, patient.pk, since))
        assert len(fast_all) == len(orm_all) == len(tables)
        for table, fast, orm in zip(tables, fast_all, orm_all, strict=True):
            assert normal(table, fast[0]) == normal(table, orm[0]), table.name
            assert sorted(fast[1]) == sorted(orm[1])
            # Rows of every table but these: the one milestone is deleted (a tombstone) and the
            # version-3 clinical tables get none here (tests/recovery/sync/test_v3_tables.py).
            empty_here = table.name == "milestones" or (
                table.since == 3 and table.name != "notifications"
            )
            assert bool(fast[0]) is not empty_here, f"rows of {table.name}: {fast[0]!r}"


@pytest.mark.postgres
def test_the_pulls_statements_are_prepared_once_per_connection(api, patient, surgeon):
    """The pull's statements are prepared on a connection's first pull and run by name after
    (docs/sync.md, "How the incremental pull stays cheap"); the answers are the same."""
    from recovery.sync import selectors

    f.year_of_history(patient, surgeon, days=3, per_day=2)
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    state = selectors._PREPARED[connection.connection]
    known = set(state.names)  # this shape's statements may have been prepared by earlier tests
    f.pain_log(patient, intensity=4)
    with CaptureQueriesContext(connection) as first:
        one = pull(client, since).json()
    with CaptureQueriesContext(connection) as second:
        two = pull(client, since).json()
    assert one == two and len(one["changes"]["pain_logs"]["updated"]) == 1
    prepares = sum(q["sql"].count("PREPARE ") for q in first.captured_queries)
    assert prepares == len(state.names - known)
    assert "PREPARE " not in second.captured_queries[-1]["sql"]
    assert "EXECUTE realign_pull_" in second.captured_queries[-1]["sql"]


@pytest.mark.postgres
def test_a_failed_pull_batch_turns_preparing_off_for_its_connection(patient):
    """A batch that failed leaves unknown which of its PREPAREs exist: that connection's pulls
    send the plain statements from then on, and answer the same."""
    from django.db import DatabaseError, transaction

    from recovery.sync import selectors
    from recovery.sync.selectors import PreparedPull

    expected = selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
    pull_ = PreparedPull(key=patient.pk, last_pulled_at=None, schema_version=2)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(pull_.sql + ";\nSELECT 1/0", pull_.params)
    with CaptureQueriesContext(connection) as queries:
        after = selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
    assert selectors._PREPARED[connection.connection].off
    assert "EXECUTE" not in queries.captured_queries[-1]["sql"]
    assert "FOR UPDATE" in queries.captured_queries[-1]["sql"]
    after["timestamp"] = expected["timestamp"]
    assert after == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_migration_that_changes_a_prepared_column_does_not_fail_a_pull(patient):
    """A connection that prepared the pull's statements before a migration changed a column
    they return (PostgreSQL then refuses them: "cached plan must not change result type")
    still answers: the pull drops what it prepared, prepares again and answers, both through
    the selector and in the authentication's batch (which then leaves the pull to the view)."""
    from accounts.authentication import _USERS
    from recovery.sync import selectors
    from recovery.sync.selectors import PreparedPull

    def batched():
        return PreparedPull(
            key=patient.user.pk, by_user=True, last_pulled_at=None, schema_version=2
        )

    f.pain_log(patient, intensity=4)
    table = connection.ops.quote_name(PainLog._meta.db_table)
    before = selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
    batch = batched()
    _USERS.get_with(batch, id=patient.user.pk)
    assert batch.body(patient_id=patient.pk)["changes"] == before["changes"]
    assert selectors._PREPARED[connection.connection].names
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN location TYPE text")
        batch = batched()
        assert _USERS.get_with(batch, id=patient.user.pk).own_patient_pk == patient.pk
        assert batch.read_results is None  # the view runs the pull itself:
        after = selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
        assert after["changes"] == before["changes"]
        assert selectors._PREPARED[connection.connection].names  # prepared again
        with connection.cursor() as cursor:  # the statements just prepared are refused now
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN location TYPE varchar(10)")
        again = selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
        assert again["changes"] == before["changes"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN location TYPE varchar(10)")
            cursor.execute("DEALLOCATE ALL")
        selectors._PREPARED.pop(connection.connection, None)
