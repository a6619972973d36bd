"""With a real Celery worker (and beat) against a throwaway redis-server and the test's
PostgreSQL database: a committed change is delivered to the receiver (once), a rolled-back one
never, a lost enqueue is recovered by the beat's sweep, and a failing receiver is retried
until it recovers."""

import shutil
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from recovery.care.kinds import CHECK_INS
from recovery.models import WebhookDelivery
from recovery.record.writes import record_create
from recovery.webhooks.services import webhook_endpoint_create
from tests.conftest import use_broker
from tests.factories import ClinicFactory, PatientFactory, StaffFactory
from tests.reminders.procs import Cluster, RedisServer, wait_for

from .conftest import signature_ok

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
def cluster(tmp_path, redis_server, monkeypatch, transactional_db):
    use_broker(monkeypatch, redis_server.url)  # this process publishes there too
    group = Cluster(
        tmp_path,
        redis_server.url,
        WEBHOOK_SWEEP_INTERVAL="1",
        WEBHOOK_SWEEP_GRACE_SECONDS="2",
        WEBHOOK_RETRY_BACKOFF_SECONDS="1",
        WEBHOOK_TIMEOUT_SECONDS="2",
        WEBHOOK_CONNECT_TIMEOUT_SECONDS="1",
        WEBHOOK_REQUIRE_HTTPS="false",
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",  # the receiver is on 127.0.0.1
    )
    yield group
    group.stop_all()


@pytest.fixture
def setup(transactional_db, receiver):
    clinic = ClinicFactory()
    admin = StaffFactory(clinic=clinic, role="clinic_admin")
    patient = PatientFactory(clinic=clinic)
    _, secret = webhook_endpoint_create(
        actor=admin, clinic_id=clinic.pk, url=receiver.url, event_types=["check_in.recorded"]
    )
    return patient, secret


def check_in(patient, **answers):
    return record_create(
        CHECK_INS,
        actor=patient.user,
        patient=patient,
        answered_at=timezone.now() - timedelta(minutes=1),
        **answers,
    )[0]


def delivered(ids):
    return WebhookDelivery.objects.filter(pk__in=ids, status="delivered").count() == len(ids)


def test_committed_change_is_delivered_once_rolled_back_never(cluster, setup, receiver):
    patient, secret = setup
    cluster.worker("w1")
    with pytest.raises(RuntimeError), transaction.atomic():
        check_in(patient, notes="never committed")
        raise RuntimeError("rolled back")
    records = [check_in(patient, fell=False) for _ in range(3)]
    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(ids) == 3
    wait_for(lambda: delivered(ids), 60, interval=0.25, what="the deliveries")
    got = sorted(r["json"]["data"]["check_in_id"] for r in receiver.requests)
    assert got == sorted(r.pk for r in records)  # each once, none for the rolled-back one
    assert all(signature_ok(secret, r["headers"], r["body"]) for r in receiver.requests)


def test_lost_enqueue_is_swept_and_a_failing_receiver_retried(
    cluster, setup, receiver, monkeypatch
):
    patient, _ = setup
    use_broker(monkeypatch, "memory://")  # the on-commit message goes nowhere: lost
    lost = check_in(patient, fell=False)
    use_broker(monkeypatch, cluster.env["CELERY_BROKER_URL"])
    receiver.answers = [500, 500]
    retried = check_in(patient, fell=False)
    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    cluster.beat("beat")
    cluster.worker("w1")
    wait_for(lambda: delivered(ids), 90, interval=0.25, what="the sweep and the retries")
    by_check_in = {}
    for r in receiver.requests:
        by_check_in.setdefault(r["json"]["data"]["check_in_id"], []).append(r["answered"])
    assert by_check_in[lost.pk][-1] == 200
    assert set(by_check_in) == {lost.pk, retried.pk}
    assert sum(a == 200 for answers in by_check_in.values() for a in answers) == 2
    assert sorted(a for answers in by_check_in.values() for a in answers) == [200, 200, 500, 500]
