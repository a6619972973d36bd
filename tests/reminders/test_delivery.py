"""reminders.delivery in-process: claiming, leases, state machine, retries, poison reminders,
channels."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from reminders import delivery, services, tasks
from reminders.channels import SENT, Channel, PermanentDeliveryError, TransientDeliveryError
from reminders.models import Device, Notification, Reminder
from tests.factories import PatientFactory

NY = zoneinfo.ZoneInfo("America/New_York")
PLAN_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STARTS = datetime(2026, 6, 3, 16, 0, tzinfo=UTC)  # 1d reminder due 2 June 16:00 UTC
DUE = STARTS - timedelta(days=1)


def plan(patient, channels, settings, cause_id="appt-1", starts=STARTS, title="Suture removal"):
    settings.REMINDERS_CHANNELS = channels
    with time_machine.travel(PLAN_AT, tick=False):
        return services.reminders_sync_for_cause(
            patient=patient,
            kind="appointment",
            cause_type="appointment",
            cause_id=cause_id,
            anchor=starts,
            title=title,
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
            total = delivery.reminders_dispatch_due(enqueue=enqueued.append, batch_size=limit)
        return total, enqueued

    return sweep


def test_only_due_rows_are_claimed_and_delivery_is_enqueued_after_commit(
    patient, settings, at_due, django_capture_on_commit_callbacks
):
    plan(patient, ["inbox"], settings)  # 1d due now, 2h due later; 7d was past at planning
    enqueued = []
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        delivery.transaction.atomic(),
    ):
        ids = delivery.reminders_claim_due(limit=10)
        delivery.transaction.on_commit(lambda: enqueued.append(ids))
    assert len(ids) == 1 and enqueued == []
    row = Reminder.objects.get(pk=ids[0])
    assert row.step["key"] == "1d" and row.status == "claimed"
    assert row.available_at == delivery.timezone.now() + timedelta(
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {}  # a duplicate message
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
    delivery.reminders_deliver(reminder_ids=enqueued[0])
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"cancelled": 1}
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    row = Reminder.objects.get(step__key="1d")
    assert row.status == "pending" and row.attempts == 1
    assert row.available_at == delivery.timezone.now() + timedelta(seconds=60)
    assert "provider timed out" in row.last_error
    assert claim_all()[0] == 0  # not before the backoff
    at_due.shift(61)
    _, enqueued = claim_all()
    delivery.reminders_deliver(reminder_ids=enqueued[0])
    row.refresh_from_db()
    assert row.available_at == delivery.timezone.now() + timedelta(seconds=120)  # doubled
    at_due.shift(121)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts, calls) == ("failed", 3, [1, 2, 3])
    assert Notification.objects.count() == 0


def test_transient_then_success_is_delivered_once(
    patient, settings, at_due, monkeypatch, claim_all
):
    plan(patient, ["inbox"], settings)
    from reminders.channels.inbox import InboxChannel

    real = InboxChannel.send

    def once_flaky(self, reminder):
        if reminder.attempts == 1:
            raise TransientDeliveryError("503 from provider")
        return real(self, reminder)

    monkeypatch.setattr(InboxChannel, "send", once_flaky)
    _, enqueued = claim_all()
    delivery.reminders_deliver(reminder_ids=enqueued[0])
    at_due.shift(settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert Notification.objects.count() == 1
    assert Reminder.objects.get(step__key="1d").attempts == 2


def test_permanent_error_fails_at_once(patient, settings, at_due, monkeypatch, claim_all):
    plan(patient, ["inbox"], settings)

    def reject(self, reminder):
        raise PermanentDeliveryError("invalid recipient")

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", reject)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    assert "KeyError" in Reminder.objects.get(step__key="1d").last_error


class ProcessDied(BaseException):
    """Stands in for the worker process dying mid-call (OOM, SIGKILL): nothing catches it, the
    delivery transaction rolls back, and only what was committed before it remains."""


class CrashingChannel(Channel):
    """The provider call of a reminder titled ``[crash]`` kills the process; others succeed."""

    calls: list[int] = []

    def send(self, reminder):
        if "[crash]" in reminder.title:
            raise ProcessDied
        CrashingChannel.calls.append(reminder.pk)
        return SENT


def test_a_crash_charges_only_the_reminder_in_flight_and_the_rest_of_the_chunk_is_sent(
    patient, settings, at_due, claim_all
):
    settings.REMINDERS_MAX_ATTEMPTS = 3
    settings.REMINDERS_CHANNEL_BACKEND_OVERRIDE = "tests.reminders.test_delivery.CrashingChannel"
    CrashingChannel.calls = []
    poison = plan(patient, ["inbox"], settings, cause_id="appt-0", title="Cast [crash]")
    fine = [plan(patient, ["inbox"], settings, cause_id=f"appt-{n}")[0].pk for n in (1, 2)]
    poison = poison[0].pk
    _, enqueued = claim_all()
    (chunk,) = enqueued
    assert sorted(chunk) == sorted([poison, *fine]) and min(chunk) == poison
    with pytest.raises(ProcessDied):  # the first delivery dies on the first row
        delivery.reminders_deliver(reminder_ids=chunk)
    rows = {r.pk: r for r in Reminder.objects.filter(pk__in=chunk)}
    assert {pk: (r.status, r.attempts) for pk, r in rows.items()} == {
        poison: ("claimed", 1),
        fine[0]: ("claimed", 0),
        fine[1]: ("claimed", 0),
    }
    assert rows[poison].last_error == delivery.INTERRUPTED
    assert rows[poison].available_at == delivery.timezone.now() + timedelta(
        seconds=settings.REMINDERS_CLAIM_LEASE_SECONDS
    )
    # The message is requeued (reject_on_worker_lost): the interrupted row goes last.
    with pytest.raises(ProcessDied):
        delivery.reminders_deliver(reminder_ids=chunk)
    assert CrashingChannel.calls == fine
    assert Reminder.objects.get(pk=poison).attempts == 2
    with pytest.raises(ProcessDied):
        delivery.reminders_deliver(reminder_ids=chunk)
    assert delivery.reminders_deliver(reminder_ids=chunk) == {"failed": 1}  # no 4th call
    row = Reminder.objects.get(pk=poison)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("gave up after the maximum number of attempts")
    assert delivery.INTERRUPTED in row.last_error
    assert {(r.status, r.attempts, r.last_error) for r in Reminder.objects.filter(pk__in=fine)} == {
        ("sent", 1, "")
    }
    assert CrashingChannel.calls == fine


def test_moved_while_queued_is_not_sent_at_the_old_time(patient, settings, at_due, claim_all):
    plan(patient, ["inbox"], settings)
    _, enqueued = claim_all()
    services.reminders_sync_for_cause(
        patient=patient,
        kind="appointment",
        cause_type="appointment",
        cause_id="appt-1",
        anchor=STARTS + timedelta(days=5),
        title="Suture removal",
    )
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {}
    assert Reminder.objects.get(pk=enqueued[0][0]).status == "pending"


def test_tasks_take_json_ids_and_call_the_services(
    patient, settings, at_due, monkeypatch, django_capture_on_commit_callbacks
):
    plan(patient, ["inbox"], settings)
    published = []
    monkeypatch.setattr(tasks.deliver_reminders, "apply_async", lambda args: published.append(args))
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


def test_push_goes_through_firebase_admin_with_collapse_keys(
    patient, settings, at_due, fcm, claim_all
):
    register(patient, "android-token-1")
    register(patient, "ios-token-1", "ios")
    plan(patient, ["push"], settings)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"cancelled": 1}
    dead.refresh_from_db()
    assert not dead.active and "Unregistered" in dead.deactivated_reason
    assert Reminder.objects.get(step__key="1d").last_error == "every device token is unregistered"


def test_push_timeout_is_retried_then_delivered_once(patient, settings, at_due, fcm, claim_all):
    import requests

    register(patient, "token-1")
    plan(patient, ["push"], settings)
    fcm.fail(requests.exceptions.ReadTimeout("read timed out"))
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    assert "DeadlineExceededError" in Reminder.objects.get(step__key="1d").last_error
    fcm.answer(503, {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    at_due.shift(settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"retry": 1}
    at_due.shift(2 * settings.REMINDERS_RETRY_BACKOFF_SECONDS + 1)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
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
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"failed": 1}
    assert "InvalidArgumentError" in Reminder.objects.get(step__key="1d").last_error


def test_push_without_devices_or_configuration_is_cancelled_with_the_reason(
    patient, settings, at_due, claim_all
):
    plan(patient, ["push"], settings)
    _, enqueued = claim_all()
    delivery.reminders_deliver(reminder_ids=enqueued[0])
    assert Reminder.objects.get(step__key="1d").last_error == "no registered device"
    other = PatientFactory(clinic=patient.clinic)
    register(other, "token-x")
    plan(other, ["push"], settings, cause_id="appt-9")
    settings.FCM_CREDENTIALS_FILE = ""
    _, enqueued = claim_all()
    delivery.reminders_deliver(reminder_ids=enqueued[0])
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
                patient=patient,
                kind="pt_session",
                cause_type="pt_session",
                cause_id=f"pt{n}",
                anchor=STARTS,
                title="PT",
            )
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]

    def sweep(slot):
        try:
            with delivery.transaction.atomic():
                ids = delivery.reminders_claim_due(limit=25, now=STARTS)
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


def test_channel_sees_the_row_as_written_with_typed_fields(
    patient, settings, at_due, monkeypatch, claim_all
):
    plan(patient, ["inbox"], settings)
    seen = []

    def capture(self, reminder):
        seen.append(reminder)
        return SENT

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", capture)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    (row,) = seen
    # What the mark-sent UPDATE wrote (it commits with the delivery), not the claim before it.
    assert row.status == "sent" and row.sent_at == delivery.timezone.now()
    assert row.attempts == 1 and row.last_error == ""
    assert row.step == {"key": "1d", "minutes": -1440}
    assert row.anchor_at == STARTS and row.due_at == DUE
    assert row.patient == patient and row.patient.user.email == patient.user.email


def test_a_channel_that_saves_the_reminder_does_not_undo_the_sent_mark(
    patient, settings, at_due, monkeypatch, claim_all
):
    """A channel that saves the row it was given (here: a provider message id in last_error)
    writes back the in-memory state: it must be the sent row, or the reminder would go back to
    claimed and be sent again when its lease runs out."""
    plan(patient, ["inbox"], settings)
    calls = []

    def save_provider_id(self, reminder):
        calls.append(reminder.pk)
        reminder.last_error = "provider message id 42"
        reminder.save()
        return SENT

    monkeypatch.setattr("reminders.channels.inbox.InboxChannel.send", save_provider_id)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    row = Reminder.objects.get(step__key="1d")
    assert (row.status, row.last_error) == ("sent", "provider message id 42")
    at_due.shift(settings.REMINDERS_CLAIM_LEASE_SECONDS + 1)
    assert claim_all()[0] == 0
    assert len(calls) == 1


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

    def capture(self, reminder):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
        return SENT

    path = {"email": "email.EmailChannel", "inbox": "inbox.InboxChannel"}[channel]
    monkeypatch.setattr(f"reminders.channels.{path}.send", capture)
    _, enqueued = claim_all()
    assert delivery.reminders_deliver(reminder_ids=enqueued[0]) == {"sent": 1}
    assert seen == [expected]
