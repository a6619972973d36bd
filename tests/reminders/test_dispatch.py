"""The dispatcher and delivery, in-process: claiming, leases, state machine, retries, channels."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from reminders import dispatch, services, tasks
from reminders.channels import PermanentDeliveryError, TransientDeliveryError
from reminders.models import Device, Notification, Reminder
from tests.factories import PatientFactory

NY = zoneinfo.ZoneInfo("America/New_York")
PLAN_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STARTS = datetime(2026, 6, 3, 16, 0, tzinfo=UTC)  # 1d reminder due 2 June 16:00 UTC
DUE = STARTS - timedelta(days=1)


def plan(patient, channels, settings, cause_id="appt-1", starts=STARTS):
    settings.REMINDERS_CHANNELS = channels
    with time_machine.travel(PLAN_AT, tick=False):
        return services.reminders_sync_for_cause(
            patient=patient, kind="appointment", cause_type="appointment", cause_id=cause_id,
            anchor=starts, title="Suture removal",
        )


@pytest.fixture
def at_due():
    with time_machine.travel(DUE + timedelta(seconds=5), tick=False) as traveller:
        yield traveller


@pytest.fixture
def claim_all(django_capture_on_commit_callbacks):
    """One sweep of the dispatcher; returns (rows claimed, chunks enqueued after commit)."""

    def sweep(limit=100):
        enqueued = []
        with django_capture_on_commit_callbacks(execute=True):
            total = dispatch.reminders_dispatch_due(enqueue=enqueued.append, batch_size=limit)
        return total, enqueued

    return sweep


def test_only_due_rows_are_claimed_and_delivery_is_enqueued_after_commit(
    patient, settings, at_due, django_capture_on_commit_callbacks
):
    plan(patient, ["inbox"], settings)  # 1d due now, 2h due later; 7d was past at planning
    enqueued = []
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        dispatch.transaction.atomic(),
    ):
        ids = dispatch.reminders_claim_due(limit=10)
        dispatch.transaction.on_commit(lambda: enqueued.append(ids))
    assert len(ids) == 1 and enqueued == []
    row = Reminder.objects.get(pk=ids[0])
    assert row.step["key"] == "1d" and row.status == "claimed"
    assert row.available_at == dispatch.timezone.now() + timedelta(
        seconds=settings.REMINDERS_CLAIM_LEASE_SECONDS
    )
    assert len(callbacks) == 1


def test_dispatch_enqueues_chunks_and_a_second_sweep_takes_nothing(
    patient, other_patient, settings, at_due, django_capture_on_commit_callbacks, claim_all
):
    settings.REMINDERS_DELIVERY_CHUNK = 3
    plan(patient, ["inbox", "email", "push"], settings)
    plan(other_patient, ["inbox", "email", "push"], settings, cause_id="appt-2")
    total, enqueued = claim_all(limit=4)
    assert total == 6
    assert sorted(len(chunk) for chunk in enqueued) == [1, 2, 3]  # batches of 4 and 2
    assert len({pk for chunk in enqueued for pk in chunk}) == 6
    assert claim_all() == (0, [])


def test_expired_lease_is_claimed_again(patient, settings, at_due, claim_all):
    plan(patient, ["inbox"], settings)
    total, _ = claim_all()
    assert total == 1
    at_due.shift(settings.REMINDERS_CLAIM_LEASE_SECONDS - 1)
    assert claim_all()[0] == 0
    at_due.shift(2)
    assert claim_all()[0] == 1


def test_inbox_delivery_writes_one_notification_stamped_with_the_clock(
    patient, settings, at_due, claim_all
):
    plan(patient, ["inbox"], settings)
    _, enqueued = claim_all()
    clock_before = patient.clock.value
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {}  # a duplicate message
    row = Reminder.objects.get(pk=enqueued[0][0])
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    note = Notification.objects.get()
    assert note.reminder_id == row.pk and note.title == "Suture removal"
    assert note.sync_version > clock_before
    patient.clock.refresh_from_db()
    assert note.sync_version == patient.clock.value


def test_email_has_text_and_html_with_the_clinic_and_no_clinical_title(
    patient, settings, at_due, claim_all
):
    plan(patient, ["email"], settings)
    _, enqueued = claim_all()
    dispatch.reminders_deliver(reminder_ids=enqueued[0])
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [patient.user.email]
    assert patient.clinic.name in message.body and patient.clinic.name in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and patient.clinic.name in html
    assert "Suture" not in message.body + html + message.subject
    assert message.extra_headers["X-Realign-Reminder"] == "appointment:appt-1:1d:email"
    # Local time of the appointment in the patient's zone (16:00 UTC = 12:00 New York).
    assert "12:00 (America/New_York)" in message.body


def test_channel_turned_off_by_patient_is_cancelled_not_sent(patient, settings, at_due, claim_all):
    plan(patient, ["email"], settings)
    patient.email_enabled = False
    patient.save()
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"cancelled": 1}
    assert mail.outbox == []
    assert "turned off" in Reminder.objects.get(step__key="1d").last_error


def test_transient_error_backs_off_then_fails_after_max_attempts(
    patient, settings, at_due, monkeypatch, claim_all
):
    settings.REMINDERS_MAX_ATTEMPTS = 3
    settings.REMINDERS_RETRY_BACKOFF_SECONDS = 60
    plan(patient, ["inbox"], settings)
    calls = []

    def flaky(self, reminder):
        calls.append(reminder.attempts)
        raise TransientDeliveryError("provider timed out")

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", flaky)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    row = Reminder.objects.get(step__key="1d")
    assert row.status == "pending" and row.attempts == 1
    assert row.available_at == dispatch.timezone.now() + timedelta(seconds=60)
    assert "provider timed out" in row.last_error
    assert claim_all()[0] == 0  # not before the backoff
    at_due.shift(61)
    _, enqueued = claim_all()
    dispatch.reminders_deliver(reminder_ids=enqueued[0])
    row.refresh_from_db()
    assert row.available_at == dispatch.timezone.now() + timedelta(seconds=120)  # doubled
    at_due.shift(121)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts, calls) == ("failed", 3, [1, 2, 3])
    assert Notification.objects.count() == 0


def test_transient_then_success_is_delivered_once(patient, settings, at_due, monkeypatch, claim_all):
    plan(patient, ["inbox"], settings)
    from reminders.channels.inbox import InboxChannel

    real = InboxChannel.send

    def once_flaky(self, reminder):
        if reminder.attempts == 1:
            raise TransientDeliveryError("503 from provider")
        return real(self, reminder)

    monkeypatch.setattr(InboxChannel, "send", once_flaky)
    _, enqueued = claim_all()
    dispatch.reminders_deliver(reminder_ids=enqueued[0])
    at_due.shift(settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert Notification.objects.count() == 1
    assert Reminder.objects.get(step__key="1d").attempts == 2


def test_permanent_error_fails_at_once(patient, settings, at_due, monkeypatch, claim_all):
    plan(patient, ["inbox"], settings)

    def reject(self, reminder):
        raise PermanentDeliveryError("invalid recipient")

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", reject)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    row = Reminder.objects.get(step__key="1d")
    assert row.status == "failed" and row.last_error == "permanent: invalid recipient"
    at_due.shift(3600)
    assert claim_all()[0] == 0


def test_unexpected_error_is_not_retried(patient, settings, at_due, monkeypatch, claim_all):
    plan(patient, ["inbox"], settings)

    def bug(self, reminder):
        raise KeyError("oops")

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", bug)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    assert "KeyError" in Reminder.objects.get(step__key="1d").last_error


def test_a_reminder_whose_delivery_keeps_crashing_ends_failed(patient, settings, at_due, claim_all):
    """A worker killed mid-delivery leaves the row claimed with the attempt counted; after the
    lease it is claimed again; at the limit it is failed without another send."""
    settings.REMINDERS_MAX_ATTEMPTS = 2
    plan(patient, ["inbox"], settings)
    for _ in range(2):
        _, enqueued = claim_all()
        assert dispatch._count_attempts(enqueued[0]) == enqueued[0]  # then the "crash"
        at_due.shift(settings.REMINDERS_CLAIM_LEASE_SECONDS + 1)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {}
    row = Reminder.objects.get(step__key="1d")
    assert row.status == "failed" and "maximum number of attempts" in row.last_error
    assert Notification.objects.count() == 0


def test_moved_while_queued_is_not_sent_at_the_old_time(patient, settings, at_due, claim_all):
    plan(patient, ["inbox"], settings)
    _, enqueued = claim_all()
    services.reminders_sync_for_cause(
        patient=patient, kind="appointment", cause_type="appointment", cause_id="appt-1",
        anchor=STARTS + timedelta(days=5), title="Suture removal",
    )
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {}
    assert Reminder.objects.get(pk=enqueued[0][0]).status == "pending"


def test_tasks_take_json_ids_and_call_the_services(
    patient, settings, at_due, monkeypatch, django_capture_on_commit_callbacks
):
    plan(patient, ["inbox"], settings)
    published = []
    monkeypatch.setattr(
        tasks.deliver_reminders, "apply_async", lambda args: published.append(args)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_due() == 1
    assert published and all(isinstance(pk, int) for pk in published[0][0])
    assert tasks.deliver_reminders(published[0][0]) == {"sent": 1}
    assert tasks.plan_daily_checkins() >= 1


def test_dispatch_task_publishes_to_the_broker(
    patient, settings, at_due, django_capture_on_commit_callbacks
):
    """Through the real (in-memory) kombu transport: the arguments serialise as JSON."""
    plan(patient, ["inbox"], settings)
    from config.celery import app

    with app.connection_for_write() as conn:
        queue = conn.SimpleQueue("celery")
        queue.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.dispatch_due() == 1
        message = queue.get(timeout=1)
        assert message.headers["task"] == "reminders.deliver"
        assert message.decode()[0] == [[Reminder.objects.get(step__key="1d").pk]]
        message.ack()
        queue.close()


# --- Push through firebase-admin, with a fake HTTP transport -----------------------------------


def register(patient, token, platform="android"):
    return services.device_register(patient=patient, token=token, platform=platform)[0]


def test_push_goes_through_firebase_admin_with_collapse_keys(patient, settings, at_due, fcm, claim_all):
    register(patient, "android-token-1")
    register(patient, "ios-token-1", "ios")
    plan(patient, ["push"], settings)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert len(fcm.requests) == 2
    sent = [r["json"]["message"] for r in fcm.requests]
    assert {m["token"] for m in sent} == {"android-token-1", "ios-token-1"}
    key = sent[0]["android"]["collapse_key"]
    assert key == sent[0]["apns"]["headers"]["apns-collapse-id"] and len(key) == 32
    assert fcm.requests[0]["url"].endswith("/projects/realign-test/messages:send")
    assert "Suture" not in str(sent)  # no clinical detail on the lock screen
    assert sent[0]["data"]["reminder_id"] == str(enqueued[0][0])


def test_unregistered_token_is_deactivated(patient, settings, at_due, fcm, claim_all):
    dead = register(patient, "dead-token")
    plan(patient, ["push"], settings)
    fcm.unregistered()
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"cancelled": 1}
    dead.refresh_from_db()
    assert not dead.active and "Unregistered" in dead.deactivated_reason
    assert Reminder.objects.get(step__key="1d").last_error == "every device token is unregistered"


def test_push_timeout_is_retried_then_delivered_once(patient, settings, at_due, fcm, claim_all):
    import requests

    register(patient, "token-1")
    plan(patient, ["push"], settings)
    fcm.fail(requests.exceptions.ReadTimeout("read timed out"))
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    assert "DeadlineExceededError" in Reminder.objects.get(step__key="1d").last_error
    fcm.answer(503, {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    at_due.shift(settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    at_due.shift(2 * settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    row = Reminder.objects.get(step__key="1d")
    assert (row.status, row.attempts) == ("sent", 3)
    assert len(fcm.requests) == 3
    assert fcm.requests[0]["timeout"] == settings.REMINDERS_PROVIDER_TIMEOUT


def test_push_rejected_permanently_is_failed(patient, settings, at_due, fcm, claim_all):
    from tests.reminders.conftest import fcm_error

    register(patient, "token-1")
    plan(patient, ["push"], settings)
    fcm.answer(400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    assert "InvalidArgumentError" in Reminder.objects.get(step__key="1d").last_error


def test_push_without_devices_or_configuration_is_cancelled_with_the_reason(
    patient, settings, at_due, claim_all
):
    plan(patient, ["push"], settings)
    _, enqueued = claim_all()
    dispatch.reminders_deliver(reminder_ids=enqueued[0])
    assert Reminder.objects.get(step__key="1d").last_error == "no registered device"
    other = PatientFactory(clinic=patient.clinic)
    register(other, "token-x")
    plan(other, ["push"], settings, cause_id="appt-9")
    settings.FCM_CREDENTIALS_FILE = ""
    _, enqueued = claim_all()
    dispatch.reminders_deliver(reminder_ids=enqueued[0])
    assert "not configured" in Reminder.objects.get(cause_id="appt-9", step__key="1d").last_error
    assert Device.objects.get(token="token-x").active


# --- Concurrency on PostgreSQL ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_claim_disjoint_rows(settings):
    import threading

    from django.db import connections

    from tests.factories import ClinicFactory

    clinic = ClinicFactory()
    patient = PatientFactory(clinic=clinic)
    settings.REMINDERS_CHANNELS = ["inbox"]
    with time_machine.travel(PLAN_AT, tick=False):
        for n in range(40):
            services.reminders_sync_for_cause(
                patient=patient, kind="pt_session", cause_type="pt_session", cause_id=f"pt{n}",
                anchor=STARTS, title="PT",
            )
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]

    def sweep(slot):
        try:
            with dispatch.transaction.atomic():
                ids = dispatch.reminders_claim_due(limit=25, now=STARTS)
                claimed[slot] = ids
                barrier.wait(timeout=10)  # both hold their locks at the same time
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(c) for c in claimed) == [15, 25]
    assert not set(claimed[0]) & set(claimed[1])
    assert Reminder.objects.filter(status="claimed").count() == 40
    assert connection.vendor == "postgresql"


def test_channel_sees_the_claimed_row_with_typed_fields(
    patient, settings, at_due, monkeypatch, claim_all
):
    plan(patient, ["inbox"], settings)
    seen = []

    def capture(self, reminder):
        seen.append(reminder)
        from reminders.channels import SENT

        return SENT

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", capture)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    (row,) = seen
    assert row.status == "claimed" and row.attempts == 1
    assert row.step == {"key": "1d", "minutes": -1440}
    assert row.anchor_at == STARTS and row.due_at == DUE
    assert row.patient == patient and row.patient.user.email == patient.user.email


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("channel", "setting", "expected"),
    [("email", True, "off"), ("inbox", True, "on"), ("email", False, "on")],
)
def test_async_commit_only_for_channels_without_synced_writes(
    patient, settings, at_due, monkeypatch, claim_all, channel, setting, expected
):
    settings.REMINDERS_DELIVERY_ASYNC_COMMIT = setting
    plan(patient, [channel], settings)
    seen = []
    from reminders.channels import SENT

    def capture(self, reminder):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return SENT

    path = {"email": "email.EmailChannel", "inbox": "inbox.InboxChannel"}[channel]
    monkeypatch.setattr(f"reminders.channels.{path}.send", capture)
    _, enqueued = claim_all()
    assert dispatch.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert seen == [expected]
