"""Fault tests with real processes: a celery worker and beat against a throwaway redis-server
and the pytest PostgreSQL database. Each asserts from the database and from the record of
provider calls (written by the worker process) that every due reminder was delivered once.

"Once" is checked two ways: the reminder row is ``sent`` (exactly once, by the row lock and
status), and the provider saw one call per reminder. A worker killed with SIGKILL between the
provider's answer and the commit makes one repeated provider call with the same collapse key
(the provider replaces, the patient sees one); the kill test bounds those by the processes it
killed. Every other test allows none.
"""

import shutil
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reminders.models import Reminder
from tests.conftest import others_connected
from tests.factories import ClinicFactory, PatientFactory

from .procs import Cluster, RedisServer, stop, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
    pytest.mark.timeout(120),
]


@pytest.fixture
def redis_server(tmp_path, transactional_db):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def cluster(tmp_path, redis_server, transactional_db):
    with connection.cursor() as cursor:
        before = others_connected(cursor)
    group = Cluster(tmp_path, redis_server.url)
    yield group
    group.stop_all()
    # A stopped process's database session ends a moment after it: wait for them, so that the
    # next test's flush (or the end of the session, which drops the database) finds none.
    with connection.cursor() as cursor:
        wait_for(
            lambda: not others_connected(cursor) - before, 10, what="the workers' sessions to end"
        )


@pytest.fixture
def patients(transactional_db):
    clinic = ClinicFactory()
    return [PatientFactory(clinic=clinic) for _ in range(3)]


def make_due(patients, count, *, start=0, title="Check-in", due_in=timedelta(seconds=-1)):
    now = timezone.now()
    rows = [
        Reminder(
            patient=patients[i % len(patients)],
            kind="appointment",
            cause_type="fault",
            cause_id=str(i),
            title=title,
            channel="inbox",
            step={"key": "x", "minutes": -60},
            anchor_at=now + timedelta(hours=1),
            due_at=now + due_in,
            available_at=now + due_in,
            dedup_key=f"fault:{i}:x:inbox",
        )
        for i in range(start, start + count)
    ]
    return [r.pk for r in Reminder.objects.bulk_create(rows)]


def all_settled(ids, timeout):
    open_rows = lambda: (
        not Reminder.objects.filter(pk__in=ids, status__in=["pending", "claimed"]).exists()
    )
    wait_for(open_rows, timeout, interval=0.25, what="every reminder to settle")


def assert_delivered_once(cluster, ids, *, extra_calls_allowed=0):
    statuses = Counter(Reminder.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {"sent": len(ids)}, statuses
    calls = Counter(cluster.deliveries())
    assert set(calls) == set(ids), "a due reminder was never handed to the provider"
    repeated = sum(n - 1 for n in calls.values())
    assert repeated <= extra_calls_allowed, f"{repeated} repeated provider calls"
    return repeated


def test_worker_killed_mid_batch_new_worker_finishes(cluster, patients):
    ids = make_due(patients, 300)
    cluster.env["REMINDERS_RECORD_DELAY"] = "0.02"
    cluster.beat("beat")
    first = cluster.worker("w1")
    wait_for(lambda: len(cluster.deliveries()) >= 60, 40, what="the first deliveries")
    stop(first, signal.SIGKILL)  # the whole worker: main process and both pool children
    at_kill = len(cluster.deliveries())
    assert at_kill < len(ids), "the kill came too late to test anything"
    time.sleep(1)
    assert len(cluster.deliveries()) == at_kill  # really dead
    stranded = set(
        Reminder.objects.filter(pk__in=ids, status="claimed").values_list("pk", flat=True)
    )
    assert stranded, "the kill left no claimed work behind"
    cluster.worker("w2")
    all_settled(ids, 60)
    # At most one provider call per killed process can be repeated (see the module doc).
    assert_delivered_once(cluster, ids, extra_calls_allowed=3)
    # The rows the dead worker held were taken over (after their lease) and sent.
    assert (
        set(Reminder.objects.filter(pk__in=stranded, status="sent").values_list("pk", flat=True))
        == stranded
    )


def test_redis_restart_while_reminders_are_due(cluster, redis_server, patients):
    ids = make_due(patients, 150)
    later = make_due(patients, 100, start=150, due_in=timedelta(seconds=4))
    cluster.env["REMINDERS_RECORD_DELAY"] = "0.02"
    cluster.beat("beat")
    cluster.worker("w1")
    wait_for(lambda: len(cluster.deliveries()) >= 30, 40, what="the first deliveries")
    redis_server.restart(pause=2)  # SIGKILL, nothing persisted: queued messages are gone
    all_settled(ids + later, 60)
    assert_delivered_once(cluster, ids + later)
    assert "Connection to broker lost" in cluster.log("w1")  # the restart hit a live worker


def test_two_beats_at_once_deliver_nothing_twice(cluster, patients):
    ids = make_due(patients, 200)
    staggered = make_due(patients, 100, start=200, due_in=timedelta(seconds=3))
    cluster.env["REMINDERS_DISPATCH_INTERVAL"] = "0.5"
    cluster.beat("beat1")
    cluster.beat("beat2")
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    all_settled(ids + staggered, 60)
    time.sleep(2)  # let the duplicate dispatches of both beats run on
    assert_delivered_once(cluster, ids + staggered)
    for beat in ("beat1", "beat2"):
        assert "Sending due task reminders-dispatch-due" in cluster.log(beat)


def test_transient_failures_are_retried_and_permanent_ones_fail(cluster, patients):
    flaky = make_due(patients, 30, title="PT [transient:2]")
    rejected = make_due(patients, 10, start=30, title="PT [permanent]")
    fine = make_due(patients, 20, start=40, title="PT")
    cluster.beat("beat")
    cluster.worker("w1")
    all_settled(flaky + rejected + fine, 60)
    assert_delivered_once(cluster, flaky + fine)
    assert set(Reminder.objects.filter(pk__in=flaky).values_list("attempts", flat=True)) == {3}
    assert set(Reminder.objects.filter(pk__in=fine).values_list("attempts", flat=True)) == {1}
    failed = Reminder.objects.filter(pk__in=rejected)
    assert {(r.status, r.attempts) for r in failed} == {("failed", 1)}
    assert all("rejected" in r.last_error for r in failed)
    assert not set(cluster.deliveries()) & set(rejected)
    time.sleep(3)  # several more sweeps: the failed ones are not picked up again
    assert set(failed.values_list("attempts", flat=True)) == {1}


def test_a_reminder_that_kills_the_worker_fails_alone_and_its_chunk_is_delivered(cluster, patients):
    """The provider call of one reminder SIGKILLs the pool process every time (an OOM kill, a
    crash in a provider library). Its chunk is requeued again and again; only it is charged,
    the others of its chunk (it has the lowest id, so it comes first) are delivered, and after
    REMINDERS_MAX_ATTEMPTS it is failed without another call."""
    poison = make_due(patients, 1, title="PT [crash]")
    fine = make_due(patients, 29, start=1, title="PT")
    cluster.beat("beat")
    cluster.worker("w1")
    all_settled(poison + fine, 90)
    assert_delivered_once(cluster, fine)
    assert set(Reminder.objects.filter(pk__in=fine).values_list("attempts", flat=True)) == {1}
    row = Reminder.objects.get(pk=poison[0])
    assert (row.status, row.attempts) == ("failed", 5)
    assert "maximum number of attempts" in row.last_error and "interrupted" in row.last_error
    assert poison[0] not in cluster.deliveries()
    assert cluster.log("w1").count("signal 9 (SIGKILL)") >= 5  # the pool child really died
