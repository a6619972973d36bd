"""Delivery against a real HTTP receiver in the test: signed, retried with backoff when the
receiver is down, slow or failing, logged, and the endpoint turned off after repeated
failures with the clinic admins told."""

import json
import random
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from recovery.care.kinds import CHECK_INS
from recovery.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from recovery.record.writes import record_create
from recovery.webhooks.delivery import (
    backoff_seconds,
    deliveries_sweep,
    delivery_attempt,
    delivery_claim,
)
from recovery.webhooks.services import webhook_delivery_resend, webhook_secret_rotate
from recovery.webhooks.signing import verify
from recovery.webhooks.tasks import webhook_deliver, webhooks_sweep

from .conftest import signature_ok

pytestmark = pytest.mark.django_db


def check_in(patient):
    return record_create(
        CHECK_INS,
        actor=patient.user,
        patient=patient,
        answered_at=timezone.now() - timedelta(minutes=1),
        fell=False,
    )[0]


def make_due(delivery):
    """Brings a scheduled retry forward to now (the test does not wait out the backoff)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_delivered_once_committed_signed_per_standard_webhooks(
    patient, make_endpoint, receiver, django_capture_on_commit_callbacks
):
    _, secret = make_endpoint(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        record = check_in(patient)
    # The on-commit enqueue went to the in-memory broker; the worker's task runs here.
    delivery = WebhookDelivery.objects.get()
    webhook_deliver(delivery.pk)
    (request,) = receiver.requests
    assert request["json"]["type"] == "check_in.recorded"
    assert request["json"]["data"]["check_in_id"] == record.pk
    assert request["headers"]["webhook-id"] == str(delivery.event_id)
    assert request["headers"]["content-type"] == "application/json"
    assert signature_ok(secret, request["headers"], request["body"])
    assert not signature_ok("whsec_" + "A" * 44, request["headers"], request["body"])
    # The project's own verify() agrees, and refuses a replay outside the tolerance.
    now = int(time.time())
    assert verify(secret=secret, headers=request["headers"], body=request["body"], now=now)
    assert not verify(
        secret=secret, headers=request["headers"], body=request["body"], now=now + 301
    )
    assert not verify(
        secret=secret, headers=request["headers"], body=request["body"] + b" ", now=now
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered",
        1,
        200,
    )
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (200, True, "")
    # A duplicate message for the same delivery sends nothing more.
    webhook_deliver(delivery.pk)
    assert len(receiver.requests) == 1


def test_500_then_recovers_retry_delivers(
    patient, make_endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 60
    endpoint, secret = make_endpoint(receiver.url)
    check_in(patient)
    delivery = WebhookDelivery.objects.get()
    receiver.answers = [500, 503]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == "pending" and delivery.last_status_code == 500
    assert len(callbacks) == 1  # the retry is enqueued with a countdown after commit
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 30 <= wait <= 61  # 60 s, half of it jittered
    # Not due yet: a message arriving early does nothing.
    assert delivery_attempt(delivery_id=delivery.pk) is None
    make_due(delivery)
    delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.last_status_code == 503
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() > 59  # doubled: 60-120
    make_due(delivery)
    delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == "delivered"
    assert [r["answered"] for r in receiver.requests] == [500, 503, 200]
    # Every retry carries the same event id: the receiver drops duplicates by it.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert all(signature_ok(secret, r["headers"], r["body"]) for r in receiver.requests)
    log = list(WebhookAttempt.objects.order_by("attempted_at"))
    assert [(a.status_code, a.error, a.succeeded) for a in log] == [
        (500, "HTTP 500", False),
        (503, "HTTP 503", False),
        (200, "", True),
    ]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0


def test_receiver_down_is_logged_and_retried(patient, make_endpoint, closed_port_url):
    make_endpoint(closed_port_url)
    check_in(patient)
    delivery = delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert delivery.status == "pending"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("connection failed")
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None and attempt.duration_ms < 1000
    assert delivery.next_attempt_at > timezone.now()


def test_slow_receiver_times_out(patient, make_endpoint, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    make_endpoint(receiver.url)
    check_in(patient)
    receiver.answers = [("sleep", 2)]
    started = time.monotonic()
    delivery = delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert time.monotonic() - started < 1.8  # the call gave up at its timeout
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("timeout")
    (attempt,) = WebhookAttempt.objects.all()
    assert 400 <= attempt.duration_ms < 1800
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.pk).status == "delivered"


def test_attempts_are_bounded(patient, make_endpoint, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    make_endpoint(receiver.url)
    check_in(patient)
    delivery = WebhookDelivery.objects.get()
    receiver.answers = [500] * 5
    for _ in range(3):
        make_due(delivery)
        delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == "failed"
    make_due(delivery)
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 3


def test_disabled_after_consecutive_failures_and_admins_told(
    patient,
    make_endpoint,
    closed_port_url,
    settings,
    clinic_admin,
    receiver,
    django_capture_on_commit_callbacks,
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    endpoint, _ = make_endpoint(closed_port_url)
    for _ in range(2):
        check_in(patient)
    first, second = WebhookDelivery.objects.order_by("pk")
    delivery_attempt(delivery_id=first.pk)
    delivery_attempt(delivery_id=second.pk)
    make_due(first)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_attempt(delivery_id=first.pk)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.consecutive_failures == 3
    assert "3 failed attempts in a row" in endpoint.disabled_reason
    (message,) = mail.outbox
    assert message.to == [clinic_admin.email]
    assert closed_port_url in message.body
    assert patient.user.last_name not in message.body
    # Off: nothing is attempted, the sweep leaves its deliveries alone, nothing new is emitted.
    make_due(second)
    assert delivery_attempt(delivery_id=second.pk) is None
    assert deliveries_sweep(now=timezone.now() + timedelta(hours=1)) == []
    check_in(patient)
    assert WebhookDelivery.objects.count() == 2
    # A success resets the count (another endpoint, one failure then a success).
    other, _ = make_endpoint(receiver.url)
    receiver.answers = [500]
    check_in(patient)
    delivery = WebhookDelivery.objects.get(endpoint=other)
    delivery_attempt(delivery_id=delivery.pk)
    assert WebhookEndpoint.objects.get(pk=other.pk).consecutive_failures == 1
    make_due(delivery)
    delivery_attempt(delivery_id=delivery.pk)
    assert WebhookEndpoint.objects.get(pk=other.pk).consecutive_failures == 0


def test_sweep_sends_deliveries_whose_message_was_lost(
    patient, make_endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_SWEEP_GRACE_SECONDS = 60
    make_endpoint(receiver.url)
    check_in(patient)  # its on-commit enqueue is dropped: the message is "lost"
    delivery = WebhookDelivery.objects.get()
    assert deliveries_sweep() == []  # not stale yet: its own message may be on the way
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert deliveries_sweep() == [delivery.pk]
    assert len(callbacks) == 1
    assert deliveries_sweep() == []  # moved to now: not swept twice in a grace period
    webhooks_sweep()  # the beat task runs it with the settings' batch
    assert webhook_deliver(delivery.pk) is None
    assert WebhookDelivery.objects.get().status == "delivered"


def test_a_claimed_delivery_is_not_attempted_twice(patient, make_endpoint, receiver):
    make_endpoint(receiver.url)
    check_in(patient)
    delivery = WebhookDelivery.objects.get()
    assert delivery_claim(delivery_id=delivery.pk) is not None
    assert delivery_claim(delivery_id=delivery.pk) is None  # under the first one's lease
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=120))
    assert deliveries_sweep() == []  # stale schedule, but the lease is live
    # The lease expires (the worker died): attempted again.
    later = timezone.now() + timedelta(minutes=5)
    assert delivery_claim(delivery_id=delivery.pk, now=later).attempts == 2


def test_manual_resend(patient, make_endpoint, receiver, clinic_admin, surgeon):
    make_endpoint(receiver.url)
    check_in(patient)
    delivery = delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert delivery.status == "delivered"
    with pytest.raises(Exception, match="clinic admin"):
        webhook_delivery_resend(actor=surgeon, delivery=delivery)
    resent = webhook_delivery_resend(actor=clinic_admin, delivery=delivery)
    assert (resent.status, resent.attempts) == ("pending", 0)
    delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["body"] == second["body"]  # the same event, byte for byte
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2


def test_rotation_signs_with_both_secrets_during_the_grace(
    patient, make_endpoint, receiver, clinic_admin, settings
):
    endpoint, old = make_endpoint(receiver.url)
    new = webhook_secret_rotate(actor=clinic_admin, endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    check_in(patient)
    delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    assert signature_ok(new, request["headers"], request["body"])
    assert signature_ok(old, request["headers"], request["body"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    check_in(patient)
    delivery_attempt(delivery_id=WebhookDelivery.objects.order_by("-pk")[0].pk)
    request = receiver.requests[-1]
    assert signature_ok(new, request["headers"], request["body"])
    assert not signature_ok(old, request["headers"], request["body"])


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(settings):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 10
    settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = 100
    rng = random.Random(4)
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        waits = [backoff_seconds(attempts, rng=rng) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len({round(w, 3) for w in waits}) > 40  # jittered, not one value


def test_no_redirects_followed(patient, make_endpoint, receiver):
    make_endpoint(receiver.url)
    check_in(patient)
    receiver.answers = [302]
    delivery = delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.last_error) == ("pending", "HTTP 302")
    assert json.loads(receiver.requests[0]["body"])["type"] == "check_in.recorded"


def test_private_addresses_are_refused_when_not_allowed(patient, make_endpoint, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    make_endpoint(receiver.url)
    check_in(patient)
    delivery = delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert delivery.last_error == "refused: 127.0.0.1 is not a public address"
    assert delivery.status == "pending" and receiver.requests == []
