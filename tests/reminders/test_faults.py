"""Fault tests with real processes: celery workers and beats against a throwaway broker (every
test runs on both: a redis-server of its own, and a RabbitMQ node of this module's own with a
fresh vhost per test) and the pytest PostgreSQL database. Each asserts from the database and from the record of
provider calls (written by the worker process) that every due reminder was delivered once.

"Once" is checked two ways: the reminder row is ``sent`` (exactly once, by the row lock and
status), and the provider saw one call per reminder. A worker killed with SIGKILL between the
provider's answer and the commit makes one repeated provider call with the same collapse key
(the provider replaces, the patient sees one); the kill test bounds those by the processes it
killed. Every other test allows none.
"""

import os
import shutil
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reminders.models import Reminder
from tests.conftest import REQUIRE_SERVICES, others_connected
from tests.factories import ClinicFactory, PatientFactory

from .procs import (
    RABBITMQ_SERVER,
    Cluster,
    RabbitMQBroker,
    RabbitMQNode,
    RedisServer,
    queue_depth,
    stop,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    # Generous: the first RabbitMQ test starts the module's node, and the machine is shared.
    pytest.mark.timeout(240),
]


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"REALIGN_REQUIRE_SERVICES=1 but this test {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def rabbitmq_node(tmp_path_factory):
    if not os.access(RABBITMQ_SERVER, os.X_OK):
        _missing(f"needs RabbitMQ ({RABBITMQ_SERVER})")
    node = RabbitMQNode(tmp_path_factory.mktemp("rabbitmq"))
    node.start()
    yield node
    node.kill()


@pytest.fixture
def redis_appendonly():
    """The throwaway Redis persists nothing; a test parametrizes this to run it as compose's
    broker does (``--appendonly yes``)."""
    return False


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, tmp_path, redis_appendonly, transactional_db):
    if request.param == "redis":
        if not shutil.which("redis-server"):
            _missing("needs redis-server")
        server = RedisServer(tmp_path, appendonly=redis_appendonly)
        server.start()
        yield server
        server.kill()
    else:
        node = request.getfixturevalue("rabbitmq_node")
        if not node.running:  # an earlier test failed halfway through a restart
            node.start()
        yield RabbitMQBroker(node)


@pytest.fixture
def cluster(tmp_path, broker, transactional_db):
    with connection.cursor() as cursor:
        before = others_connected(cursor)
    group = Cluster(tmp_path, broker.url)
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


def test_broker_restart_while_reminders_are_due(cluster, broker, patients):
    """Redis restarts empty (no persistence); RabbitMQ comes back with its durable queue, the
    messages it had delivered to the worker requeued. Either way every reminder is sent once."""
    ids = make_due(patients, 150)
    later = make_due(patients, 100, start=150, due_in=timedelta(seconds=4))
    cluster.env["REMINDERS_RECORD_DELAY"] = "0.02"
    cluster.beat("beat")
    cluster.worker("w1")
    wait_for(lambda: len(cluster.deliveries()) >= 30, 40, what="the first deliveries")
    broker.restart(pause=2)  # SIGKILL: the worker's connection is cut mid-delivery
    all_settled(ids + later, 60)
    assert_delivered_once(cluster, ids + later)
    assert "Connection to broker lost" in cluster.log("w1")  # the restart hit a live worker


@pytest.mark.parametrize("redis_appendonly", [True])
def test_queued_deliveries_survive_a_broker_restart(cluster, broker, patients):
    """With the production settings what the broker accepted survives its crash: RabbitMQ's
    durable queue and persistent messages (published with confirms), Redis with compose's
    append-only file. The claim lease is longer than the test, so nothing but the queued
    messages themselves can bring these reminders to a worker."""
    cluster.env["REMINDERS_CLAIM_LEASE_SECONDS"] = "600"
    ids = make_due(patients, 100)
    assert cluster.dispatch_once() == 100  # ten delivery tasks of ten, no worker yet
    assert Reminder.objects.filter(pk__in=ids, status="claimed").count() == 100
    wait_for(lambda: queue_depth(broker.url) == 10, 30, what="ten queued delivery tasks")
    broker.restart(pause=1)  # SIGKILL
    assert queue_depth(broker.url) == 10
    cluster.worker("w1")
    all_settled(ids, 90)
    assert_delivered_once(cluster, ids)
    assert set(Reminder.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}


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
    # Each crash requeues the chunk at once (reject_on_worker_lost); a lease longer than the
    # test keeps a pool restart slowed by a busy machine from letting the sweep claim the same
    # rows again into a second chunk, which would charge a fine row a second attempt.
    cluster.env["REMINDERS_CLAIM_LEASE_SECONDS"] = "600"
    poison = make_due(patients, 1, title="PT [crash]")
    fine = make_due(patients, 29, start=1, title="PT")
    cluster.beat("beat")
    # One pool process: the worker notices each replacement child's death at once, where with
    # two most deaths waited for the pool's 5-second check (20 s of this test); the crashes,
    # not the pool's size, are what is tested.
    cluster.worker("w1", concurrency=1)
    all_settled(poison + fine, 90)
    assert_delivered_once(cluster, fine)
    assert set(Reminder.objects.filter(pk__in=fine).values_list("attempts", flat=True)) == {1}
    row = Reminder.objects.get(pk=poison[0])
    assert (row.status, row.attempts) == ("failed", 5)
    assert "maximum number of attempts" in row.last_error and "interrupted" in row.last_error
    assert poison[0] not in cluster.deliveries()
    assert cluster.log("w1").count("signal 9 (SIGKILL)") >= 5  # the pool child really died


def test_caregiver_copies_through_a_real_worker(cluster, patients):
    """Caregivers' copies with a real beat and worker: each copy is claimed and delivered once
    on its own row; the copies of a grant revoked after planning (bypassing the hook, as a
    revocation racing the claim) reach the provider never."""
    from accounts.models import CaregiverGrant
    from reminders import services
    from tests.accounts.helpers import caregiver_of

    patient = patients[0]
    caregiver_of(patient, "reminders", email="kept@example.test")
    gone, grant = caregiver_of(patient, "reminders", email="gone@example.test")
    from django.test import override_settings

    with override_settings(REMINDERS_CHANNELS=["email"]):
        for i in range(10):
            services.reminders_sync_for_cause(
                patient=patient,
                kind="restriction_end",
                cause_type="fault",
                cause_id=f"cg{i}",
                anchor=timezone.localdate() + timedelta(days=2),
                title="PT",
            )
    rows = Reminder.objects.filter(patient=patient, cause_type="fault")
    assert rows.count() == 30  # the patient's and two caregivers' copies
    # Made due now.
    rows.update(due_at=timezone.now() - timedelta(seconds=1), available_at=timezone.now())
    CaregiverGrant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    ids = list(rows.values_list("pk", flat=True))
    cluster.beat("beat")
    cluster.worker("w1")
    all_settled(ids, 60)
    sent = rows.exclude(recipient=gone)
    assert set(sent.values_list("status", flat=True)) == {"sent"}
    assert set(rows.filter(recipient=gone).values_list("status", flat=True)) == {"cancelled"}
    calls = Counter(cluster.deliveries())
    assert set(calls) == set(sent.values_list("pk", flat=True))
    assert set(calls.values()) == {1}
