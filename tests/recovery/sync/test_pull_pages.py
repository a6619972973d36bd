"""Paged pulls (docs/sync.md, "Paged pull"): a first sync in pieces over one clock snapshot,
a signed cursor scoped to the user, nothing lost when the record changes between pages or the
device loses its cursor."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PatientClock
from recovery.models import PainLog
from recovery.record.kinds import MILESTONES, PAIN_LOGS
from recovery.record.writes import record_delete, record_update
from recovery.sync import selectors
from recovery.sync.protocol import PullPosition
from tests import factories as f

from .helpers import changes, ids, pain_raw, pull, push, with_prepared_text

pytestmark = pytest.mark.django_db


def clock(patient) -> int:
    return PatientClock.objects.get(patient=patient).value


def page(client, *, cursor=None, page_size=None, **params):
    extra = {}
    if cursor is not None:
        extra["cursor"] = cursor
    if page_size is not None:
        extra["page_size"] = page_size
    response = pull(client, **params, **extra)
    assert response.status_code == 200, response.content
    return response.json()


def all_pages(client, page_size, *, between=None, **params):
    """Every page of one paged pull; ``between(n)`` runs after page n."""
    bodies = [page(client, page_size=page_size, **params)]
    while bodies[-1]["cursor"] is not None:
        if between:
            between(len(bodies))
        schema_version = params.get("schema_version", 2)
        bodies.append(page(client, cursor=bodies[-1]["cursor"], schema_version=schema_version))
    return bodies


class Device:
    """What WatermelonDB keeps of a pull: live rows by (table, id)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict] = {}

    def apply(self, body) -> int:
        for table, change in body["changes"].items():
            for raw in change["updated"]:
                self.rows[(table, raw["id"])] = raw
            for record_id in change["deleted"]:
                self.rows.pop((table, record_id), None)
        return body["timestamp"]


def server_rows(client, schema_version=2) -> dict:
    device = Device()
    device.apply(pull(client, schema_version=schema_version).json())
    return device.rows


def records_in(body) -> int:
    return sum(len(c["updated"]) + len(c["deleted"]) for c in body["changes"].values())


def history(patient, surgeon, days=12):
    f.year_of_history(patient, surgeon, days=days, per_day=4)
    for log in PainLog.objects.filter(patient=patient)[:3]:
        record_delete(PAIN_LOGS, actor=patient.user, record=log)  # tombstones a first pull skips


def test_pages_of_a_first_pull_add_up_to_the_one_shot_pull(api, patient, surgeon, other_patient):
    history(patient, surgeon)
    f.pain_log(other_patient)
    client = api(patient.user)
    whole = pull(client).json()
    assert "cursor" not in whole  # the one-shot answer is unchanged

    bodies = all_pages(client, 7)

    assert len(bodies) > 5
    assert all(records_in(b) <= 7 for b in bodies)
    assert all(records_in(b) == 7 for b in bodies[:-1])
    assert all(set(b["changes"]) == set(whole["changes"]) for b in bodies)
    sent = [
        (table, raw["id"])
        for b in bodies
        for table, c in b["changes"].items()
        for raw in c["updated"]
    ]
    assert len(sent) == len(set(sent))  # each row once
    assert all(c["deleted"] == [] for b in bodies for c in b["changes"].values())
    device = Device()
    for body in bodies:
        device.apply(body)
    expected = Device()
    expected.apply(whole)
    assert device.rows == expected.rows
    assert bodies[-1]["timestamp"] == whole["timestamp"] == clock(patient)
    timestamps = [b["timestamp"] for b in bodies]
    assert timestamps == sorted(timestamps) and timestamps[0] > 0


def test_writes_during_the_pages_arrive_with_the_next_pull(api, patient, surgeon):
    """Another device writes while this one is between pages: the pages keep to the snapshot
    (nothing stamped later), the next incremental pull brings every change, nothing is lost."""
    history(patient, surgeon)
    client = api(patient.user)
    snapshot = clock(patient)
    first_sent: list = []
    written = {}

    def other_device(after_page):
        if after_page != 2:
            return
        body_ids = {i for _, i in first_sent}
        logs = list(PainLog.objects.filter(patient=patient).order_by("sync_version"))
        sent_log = next(log for log in logs if log.id in body_ids)
        unsent_log = logs[-1]  # stamped last: on no page yet
        assert unsent_log.id not in body_ids
        record_update(PAIN_LOGS, actor=patient.user, record=unsent_log, intensity=10)
        record_delete(PAIN_LOGS, actor=patient.user, record=sent_log)
        written["new"] = f.pain_log(patient, intensity=1).id
        written["updated"], written["deleted"] = unsent_log.id, sent_log.id
        goal = f.milestone(patient, surgeon)
        record_update(MILESTONES, actor=surgeon, record=goal, title="Walk 2 km")
        written["goal"] = goal.id

    first = page(client, page_size=9)
    first_sent.extend((t, r["id"]) for t, c in first["changes"].items() for r in c["updated"])
    bodies = [first]
    other_device(1)
    bodies.append(page(client, cursor=first["cursor"]))
    other_device(2)
    while bodies[-1]["cursor"] is not None:
        bodies.append(page(client, cursor=bodies[-1]["cursor"]))

    device = Device()
    for body in bodies:
        device.apply(body)
        for change in body["changes"].values():
            assert all(raw["updated_at"] for raw in change["updated"])
    assert bodies[-1]["timestamp"] == snapshot  # the clock read once, on the first page
    assert ("pain_logs", written["new"]) not in device.rows
    assert device.rows[("pain_logs", written["deleted"])]  # sent before it was deleted

    later = pull(client, bodies[-1]["timestamp"]).json()
    assert written["deleted"] in ids(later, "pain_logs", "deleted")
    assert {written["new"], written["updated"]} <= set(ids(later, "pain_logs"))
    device.apply(later)
    assert device.rows == server_rows(client)
    assert device.rows[("pain_logs", written["updated"])]["intensity"] == 10
    assert device.rows[("milestones", written["goal"])]["title"] == "Walk 2 km"


@pytest.mark.parametrize("lost_after", [1, 3])
def test_a_lost_cursor_costs_nothing_but_a_resend(api, patient, surgeon, lost_after):
    """Every page's timestamp is safe to pull from: a device that applied some pages and lost
    the cursor starts a new pull from the last timestamp it stored and ends up whole."""
    history(patient, surgeon)
    client = api(patient.user)
    device = Device()
    body = page(client, page_size=8)
    timestamp = device.apply(body)
    for _ in range(lost_after - 1):
        body = page(client, cursor=body["cursor"])
        timestamp = device.apply(body)
    assert body["cursor"] is not None
    f.pain_log(patient, intensity=2)  # and the record moves on meanwhile

    for rest in all_pages(client, 8, last_pulled_at=timestamp):
        device.apply(rest)
    assert device.rows == server_rows(client)


def test_one_clock_value_on_more_rows_than_a_page(api, patient):
    """A push stamps all its rows with one clock value: pages cut through it and go on."""
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    raws = [pain_raw(f"batch-{n:02d}") for n in range(23)]
    assert push(client, changes(pain_logs={"created": raws}), since).status_code == 200
    assert len(set(PainLog.objects.values_list("sync_version", flat=True))) == 1

    bodies = all_pages(client, 5)
    assert [records_in(b) for b in bodies] == [5, 5, 5, 5, 3]
    assert sorted(i for b in bodies for i in ids(b, "pain_logs")) == sorted(r["id"] for r in raws)
    stamp = PainLog.objects.values_list("sync_version", flat=True)[0]
    assert [b["timestamp"] for b in bodies] == [stamp - 1] * 4 + [clock(patient)]


def test_an_incremental_paged_pull_sends_changes_and_tombstones(api, patient, surgeon):
    history(patient, surgeon, days=4)
    client = api(patient.user)
    since = pull(client).json()["timestamp"]
    logs = list(PainLog.objects.filter(patient=patient)[:6])
    for log in logs[:3]:
        record_update(PAIN_LOGS, actor=patient.user, record=log, intensity=9)
    for log in logs[3:]:
        record_delete(PAIN_LOGS, actor=patient.user, record=log)
    new = f.pain_log(patient)

    bodies = all_pages(client, 2, last_pulled_at=since)
    one_shot = pull(client, since).json()
    assert len(bodies) == 4
    assert sorted(i for b in bodies for i in ids(b, "pain_logs")) == ids(one_shot, "pain_logs")
    assert sorted(i for b in bodies for i in ids(b, "pain_logs", "deleted")) == sorted(
        log.id for log in logs[3:]
    )
    assert new.id in ids(one_shot, "pain_logs")


def test_a_paged_migration_sync_sends_the_named_tables_whole(api, patient, surgeon):
    history(patient, surgeon, days=5)
    client = api(patient.user)
    since = pull(client, schema_version=1).json()["timestamp"]
    migration = {
        "from": 1,
        "tables": [],
        "columns": [{"table": "pain_logs", "columns": ["created_by"]}],
    }
    bodies = all_pages(client, 4, last_pulled_at=since, migration=migration)
    one_shot = pull(client, since, migration=migration).json()
    assert sorted(i for b in bodies for i in ids(b, "pain_logs")) == ids(one_shot, "pain_logs")
    assert len(ids(one_shot, "pain_logs")) == PainLog.objects.filter(patient=patient).count()
    assert all(raw["created_by"] for b in bodies for raw in b["changes"]["pain_logs"]["updated"])


def test_page_size_may_change_between_pages(api, patient, surgeon):
    history(patient, surgeon, days=4)
    client = api(patient.user)
    first = page(client, page_size=10)
    smaller = page(client, cursor=first["cursor"], page_size=3)
    assert (records_in(first), records_in(smaller)) == (10, 3)


# --- bad cursors and page sizes ----------------------------------------------------------------


def a_cursor(api, patient, surgeon):
    history(patient, surgeon, days=3)
    return page(api(patient.user), page_size=2)["cursor"]


def refused(client, **params):
    response = pull(client, **params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert "changes" not in body
    (error,) = body["errors"]
    return error


def test_a_tampered_cursor_is_a_400(api, patient, surgeon):
    cursor = a_cursor(api, patient, surgeon)
    client = api(patient.user)
    payload, rest = cursor.split(":", 1)
    for bad in (
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + ":" + rest,
        cursor[:-2],
        "not-a-cursor",
        "x" * 5000,
        cursor + "ü",
    ):
        error = refused(client, cursor=bad)
        assert (error["code"], error["attr"]) == ("invalid_cursor", "cursor")


def test_another_patients_cursor_is_refused(api, patient, surgeon, other_patient):
    cursor = a_cursor(api, patient, surgeon)
    f.pain_log(other_patient)
    error = refused(api(other_patient.user), cursor=cursor)
    assert (error["code"], error["attr"]) == ("invalid_cursor", "cursor")


def test_an_expired_cursor_is_a_400(api, patient, surgeon, settings):
    cursor = a_cursor(api, patient, surgeon)
    settings.SYNC_PULL_CURSOR_MAX_AGE = -1
    error = refused(api(patient.user), cursor=cursor)
    assert (error["code"], error["attr"]) == ("cursor_expired", "cursor")


def test_a_cursor_for_another_schema_version_is_a_400(api, patient, surgeon):
    cursor = a_cursor(api, patient, surgeon)
    error = refused(api(patient.user), cursor=cursor, schema_version=3)
    assert (error["code"], error["attr"]) == ("invalid_cursor", "cursor")
    assert "schema version 2" in error["detail"]


@pytest.mark.parametrize("size", ["0", "-1", "1001", "ten", "1.5"])
def test_page_size_out_of_range_is_a_400(api, patient, size):
    error = refused(api(patient.user), page_size=size)
    assert (error["code"], error["attr"]) == ("out_of_range", "page_size")
    assert "1 to 1000" in error["detail"]


def test_a_first_page_from_the_future_is_refused(api, patient):
    error = refused(api(patient.user), last_pulled_at=clock(patient) + 1, page_size=5)
    assert (error["code"], error["attr"]) == ("in_future", "last_pulled_at")


# --- cost and readers --------------------------------------------------------------------------


def _page_queries(api, patient, surgeon, days):
    f.year_of_history(patient, surgeon, days=days, per_day=4)
    client = api(patient.user)
    first = page(client, page_size=10)
    with CaptureQueriesContext(connection) as queries:
        body = page(client, cursor=first["cursor"])
    assert records_in(body) == 10
    return [q["sql"] for q in queries]


def test_a_page_costs_the_same_queries_whatever_the_history(api, surgeon, clinic):
    short = f.PatientFactory(clinic=clinic, surgeon=surgeon)
    long = f.PatientFactory(clinic=clinic, surgeon=surgeon)
    small = _page_queries(api, short, surgeon, 8)
    large = _page_queries(api, long, surgeon, 60)
    assert len(small) == len(large) <= 4  # the user, the keys, the rows (+ a savepoint pair)
    keys = next(sql for sql in large if "UNION ALL" in sql)
    assert keys.rstrip().endswith("LIMIT 11")  # page size + 1, whatever the history


@pytest.mark.postgres
@pytest.mark.parametrize("since", [None, 0])
def test_postgresql_and_orm_pages_agree(patient, surgeon, since):
    history(patient, surgeon, days=6)
    position = PullPosition(schema_version=3, page_size=6, since=since)
    fast, slow = [], []
    for out, vendor_page in ((fast, "postgresql"), (slow, "orm")):
        current = position
        while current is not None:
            body, current = _page_with(vendor_page, patient.pk, current)
            out.append(body)
    assert [b["timestamp"] for b in fast] == [b["timestamp"] for b in slow]
    normal = [
        {
            t: (sorted(r["id"] for r in c["updated"]), sorted(c["deleted"]))
            for t, c in b["changes"].items()
        }
        for b in fast
    ]
    assert normal == [
        {
            t: (sorted(r["id"] for r in c["updated"]), sorted(c["deleted"]))
            for t, c in b["changes"].items()
        }
        for b in slow
    ]


def _page_with(reader, patient_id, position):
    if reader == "postgresql":
        return selectors.sync_pull_page(patient_id=patient_id, position=position)
    original = connection.vendor
    try:
        connection.vendor = "sqlite-like"  # the portable reader, on the same rows
        return selectors.sync_pull_page(patient_id=patient_id, position=position)
    finally:
        connection.vendor = original


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_pull_commits_its_lock_asynchronously_and_only_its_own(patient):
    """The one-shot pull's transaction (outside any caller's) holds nothing but the clock lock:
    it may commit without a WAL flush. The setting ends with it, and a caller's transaction is
    left as it was."""
    selectors._clock_sql.cache_clear()  # compiled on first use, outside any transaction here
    selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    with transaction.atomic():
        selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
    with CaptureQueriesContext(connection) as queries:
        selectors.sync_pull(patient_id=patient.pk, last_pulled_at=None, schema_version=2)
    # One batch, the refused-records lookup in it (docs/sync.md, "Refused records").
    (batch,) = [q["sql"] for q in queries]
    batch = with_prepared_text(batch)  # the pull's statements run prepared
    assert "recovery_rejected_record" in batch
    assert batch.startswith("SET LOCAL synchronous_commit = off;")
    assert "FOR UPDATE" in batch


def test_rows_written_after_the_clock_read_are_never_on_a_page(api, patient, surgeon):
    """Belt and braces for the snapshot: a row stamped after the snapshot, even one whose key
    sorts inside the page, stays out of it."""
    history(patient, surgeon, days=3)
    client = api(patient.user)
    first = page(client, page_size=4)
    late = f.pain_log(patient, recorded_at=timezone.now() - timedelta(days=400))
    rest = all_pages(client, 4)  # a new pull: sees it
    assert late.id in {i for b in rest for i in ids(b, "pain_logs")}
    following = [first]
    while following[-1]["cursor"]:
        following.append(page(client, cursor=following[-1]["cursor"]))
    assert late.id not in {i for b in following for i in ids(b, "pain_logs")}
    assert PainLog.objects.get(pk=late.id).sync_version > following[-1]["timestamp"]


def test_the_paged_pull_limits_are_documented():
    from pathlib import Path

    from django.conf import settings

    text = (Path(__file__).resolve().parents[3] / "docs" / "sync.md").read_text()
    assert f"| `SYNC_PULL_MAX_PAGE_SIZE` | {settings.SYNC_PULL_MAX_PAGE_SIZE:,} |" in text
    assert f"| `SYNC_PULL_CURSOR_MAX_AGE` | {settings.SYNC_PULL_CURSOR_MAX_AGE:,} |" in text
    assert f"page_size=<1..{settings.SYNC_PULL_MAX_PAGE_SIZE}>" in text
