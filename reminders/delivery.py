"""Services of reminder delivery: the dispatcher's claim and the delivery of claimed reminders
(design.md section 6, docs/tasks.md). Called by the tasks in ``reminders.tasks``.

Claim: in short transactions, ``SELECT ... FOR UPDATE SKIP LOCKED`` takes a batch of open rows
whose ``available_at`` has come, marks them claimed with a lease (``available_at`` = now + lease)
and, after commit, hands them to delivery tasks. Two dispatchers never take the same row. A
claimed row whose delivery message is lost (worker killed, Redis restarted, crash between commit
and publish) becomes available again when its lease ends, and is claimed again.

Deliver, one reminder at a time: first that reminder's attempt is counted and the row is marked
in flight, in its own committed transaction, right before the provider call. A call that kills
the worker (OOM, a crash) therefore charges only the reminder being delivered; when the chunk is
redelivered, reminders whose previous attempt was interrupted go last, so the others of the
chunk are delivered, and after ``REMINDERS_MAX_ATTEMPTS`` the poison reminder is failed without
another send. Then the row is locked, sent only if it is still claimed, and marked sent in the
same transaction. A named transient error puts the row back to pending with a backoff
(``available_at`` in the future; no Celery ETA, the row is the schedule); a permanent one fails
it with the error.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable, Iterable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import CaregiverGrant, CaregiverScope, PatientProfile

from .channels import Outcome, PermanentDeliveryError, TransientDeliveryError, channel_for
from .models import OPEN_STATUSES, Channel, Reminder, ReminderStatus

log = logging.getLogger(__name__)


def _lease():
    return timedelta(seconds=settings.REMINDERS_CLAIM_LEASE_SECONDS)


def due_reminders_query(*, now, limit: int):
    """The dispatcher's query (its plan uses the partial index ``reminder_open_available``)."""
    return (
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(status__in=OPEN_STATUSES, available_at__lte=now)
        .order_by("available_at")
        .values_list("id", flat=True)[:limit]
    )


def reminders_claim_due(*, limit: int, now=None) -> list[int]:
    """Claims up to ``limit`` due rows; call inside a transaction."""
    now = now or timezone.now()
    ids = list(due_reminders_query(now=now, limit=limit))
    if ids:
        Reminder.objects.filter(id__in=ids).update(
            status=ReminderStatus.CLAIMED,
            claimed_at=now,
            available_at=now + _lease(),
            updated_at=now,
        )
    return ids


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def reminders_dispatch_due(
    *,
    enqueue: Callable[[list[int]], None],
    batch_size: int | None = None,
    chunk_size: int | None = None,
    time_budget: float | None = None,
) -> int:
    """Claims due reminders batch by batch until none is left or the time budget is spent;
    each batch's delivery tasks are enqueued after that batch commits. Returns rows claimed."""
    batch_size = batch_size or settings.REMINDERS_DISPATCH_BATCH
    chunk_size = chunk_size or settings.REMINDERS_DELIVERY_CHUNK
    budget = settings.REMINDERS_DISPATCH_TIME_BUDGET if time_budget is None else time_budget
    deadline = _time.monotonic() + budget
    total = 0
    while True:
        with transaction.atomic():
            ids = reminders_claim_due(limit=batch_size)
            for chunk in _chunks(ids, chunk_size):
                # robust: a broker that is down leaves the rows claimed; their lease runs out
                # and the next sweep claims them again.
                transaction.on_commit(lambda chunk=chunk: enqueue(chunk), robust=True)
        total += len(ids)
        if len(ids) < batch_size or _time.monotonic() >= deadline:
            return total


# ``last_error`` of a row whose attempt has started: replaced when the attempt finishes (sent,
# cancelled, retry, failed). A claimed row that still carries it when a delivery starts was
# interrupted mid-call: the worker process died (OOM, a crash, SIGKILL) or the database went away.
INTERRUPTED = "interrupted: the delivery process was lost during this attempt"


def _renew_leases(ids: list[int]) -> list[int]:
    """Renews the lease of the chunk's still-claimed rows (the message may have waited in the
    queue) and returns them in delivery order: rows whose previous attempt was interrupted last,
    so a poison reminder cannot hold the rest of its chunk hostage."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Reminder.objects.select_for_update()
            .filter(id__in=ids, status=ReminderStatus.CLAIMED)
            .order_by("id")
            .values_list("id", "last_error")
        )
        if rows:
            Reminder.objects.filter(id__in=[pk for pk, _ in rows]).update(
                available_at=now + _lease(), updated_at=now
            )
    return [pk for pk, error in rows if error != INTERRUPTED] + [
        pk for pk, error in rows if error == INTERRUPTED
    ]


def _start_attempt(pk: int) -> str:
    """Counts one attempt of this reminder and marks it in flight, in its own committed
    transaction, right before its provider call; a reminder that used up its attempts is failed
    instead. Returns "go", "failed" or "skipped" (no longer claimed)."""
    now = timezone.now()
    with transaction.atomic():
        # Only a dead worker process has to be survived here, which an asynchronous commit does;
        # a database crash can forget the mark, and then costs one more try, nothing else.
        _commit_mode(asynchronous=True)
        claimed = Reminder.objects.filter(pk=pk, status=ReminderStatus.CLAIMED)
        if claimed.filter(attempts__lt=settings.REMINDERS_MAX_ATTEMPTS).update(
            attempts=F("attempts") + 1,
            available_at=now + _lease(),
            last_error=INTERRUPTED,
            updated_at=now,
        ):
            return "go"
        if claimed.update(
            status=ReminderStatus.FAILED,
            last_error=_prefixed_error("gave up after the maximum number of attempts"),
            updated_at=now,
        ):
            return "failed"
    return "skipped"


def _prefixed_error(text: str):
    from django.db.models import Value
    from django.db.models.functions import Concat

    return Concat(Value(text + ". Last error: "), F("last_error"))


def _caregiver_refusal(reminder: Reminder, now) -> str:
    """A caregiver's copy goes out only while their grant is active with the ``reminders``
    scope, checked here, in the delivery transaction right before the provider call (one
    query): a grant revoked, expired or narrowed after planning, or after the claim, stops it.
    Loads the caregiver onto the row for the channel."""
    grant = (
        CaregiverGrant.objects.filter(
            patient_id=reminder.patient_id,
            caregiver_id=reminder.recipient_id,
            revoked_at__isnull=True,
            scopes__contains=CaregiverScope.REMINDERS,
        )
        .exclude(expires_at__lte=now)
        .select_related("caregiver")
        .first()
    )
    if grant is None:
        return "the caregiver's access to the patient's reminders ended"
    if not grant.caregiver.is_active:
        return "the caregiver's account is inactive"
    reminder.recipient = grant.caregiver
    return ""


def _refusal(reminder: Reminder, now=None) -> str:
    profile = reminder.patient
    if not profile.user.is_active:
        return "the patient's account is inactive"
    if reminder.recipient_id is not None:
        # The patient's channel switches are about their own phone and mailbox; a caregiver's
        # copy follows the grant alone.
        return _caregiver_refusal(reminder, now or timezone.now())
    enabled = {
        Channel.PUSH: profile.push_enabled,
        Channel.EMAIL: profile.email_enabled,
        Channel.INBOX: profile.inbox_enabled,
    }
    if not enabled.get(reminder.channel, True):
        return f"{reminder.channel} reminders are turned off by the patient"
    return ""


def _finish(pk: int, status: str, error: str) -> None:
    with transaction.atomic():
        row = Reminder.objects.select_for_update().filter(pk=pk).first()
        if row is None or row.status != ReminderStatus.CLAIMED:
            return
        row.status, row.last_error = status, error[:2000]
        row.save(update_fields=["status", "last_error", "updated_at"])


def _retry_or_fail(pk: int, error: str) -> str:
    with transaction.atomic():
        row = Reminder.objects.select_for_update().filter(pk=pk).first()
        if row is None or row.status != ReminderStatus.CLAIMED:
            return "skipped"
        row.last_error = error[:2000]
        if row.attempts >= settings.REMINDERS_MAX_ATTEMPTS:
            row.status = ReminderStatus.FAILED
        else:
            backoff = min(
                settings.REMINDERS_RETRY_BACKOFF_SECONDS * 2 ** max(row.attempts - 1, 0),
                settings.REMINDERS_RETRY_BACKOFF_MAX_SECONDS,
            )
            row.status = ReminderStatus.PENDING
            row.claimed_at = None
            row.available_at = timezone.now() + timedelta(seconds=backoff)
        row.save(update_fields=["status", "last_error", "claimed_at", "available_at", "updated_at"])
        return "failed" if row.status == ReminderStatus.FAILED else "retry"


def _mark_sent_returning(pk: int, now) -> Reminder | None:
    """Locks the row and marks it sent in one statement, if and only if it is still claimed;
    the mark commits with the delivery transaction (or rolls back with it when the channel
    raises). Clears the in-flight mark. Returns the row as written (status sent), or None."""
    table = connection.ops.quote_name(Reminder._meta.db_table)
    rows = list(
        Reminder.objects.raw(
            f"UPDATE {table} SET status = %s, sent_at = %s, last_error = '', updated_at = %s "  # noqa: S608
            f"WHERE id = %s AND status = %s RETURNING *",
            [ReminderStatus.SENT, now, now, pk, ReminderStatus.CLAIMED],
        )
    )
    return rows[0] if rows else None


def _commit_mode(*, asynchronous: bool) -> None:
    """Whether this transaction's COMMIT waits for the WAL flush (PostgreSQL
    ``synchronous_commit``, this transaction only; set either way, so a mode set earlier in an
    enclosing transaction never leaks into a delivery that needs the other).

    Asynchronous (with ``REMINDERS_DELIVERY_ASYNC_COMMIT``) for attempt marks and for channels
    whose delivery writes no synced rows: the commit survives any worker crash, and only a crash
    of the database server itself can forget the last fraction of a second of marks: such a
    reminder is sent again (same collapse key) or gets one more try, never lost. Halves the cost
    of a delivery on a busy disk. Deliveries that write synced rows (the inbox) stay synchronous.
    """
    if connection.vendor != "postgresql" or not settings.REMINDERS_DELIVERY_ASYNC_COMMIT:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL synchronous_commit = off"
            if asynchronous
            else "SET LOCAL synchronous_commit TO DEFAULT"
        )


def _deliver_one(pk: int, patients: dict) -> str:
    try:
        with transaction.atomic():
            now = timezone.now()
            row = _mark_sent_returning(pk, now)
            if row is None:
                return "skipped"  # already sent, moved, cancelled, or taken by another worker
            patient = patients.get(row.patient_id) or PatientProfile.objects.select_related(
                "user", "clinic"
            ).get(pk=row.patient_id)
            row.patient = patient
            refusal = _refusal(row, now)
            outcome = Outcome(sent=False, note=refusal) if refusal else None
            if outcome is None:
                channel = channel_for(row.channel)
                _commit_mode(asynchronous=not channel.synced_writes)
                outcome = channel.send(row)
            if not outcome.sent:
                Reminder.objects.filter(pk=pk).update(
                    status=ReminderStatus.CANCELLED, sent_at=None, last_error=outcome.note[:2000]
                )
                return "cancelled"
            if outcome.note:
                Reminder.objects.filter(pk=pk).update(last_error=outcome.note[:2000])
            return "sent"
    except TransientDeliveryError as exc:
        return _retry_or_fail(pk, f"transient: {exc}")
    except PermanentDeliveryError as exc:
        _finish(pk, ReminderStatus.FAILED, f"permanent: {exc}")
        return "failed"
    except SoftTimeLimitExceeded:
        _retry_or_fail(pk, "transient: the delivery task hit its time limit")
        raise
    except DatabaseError:
        raise  # the lease brings the row back; nothing can be recorded now
    except Exception as exc:
        # Not a named error: a defect. Fail it visibly instead of retrying blindly.
        log.exception("reminder %s: unexpected delivery error", pk)
        _finish(pk, ReminderStatus.FAILED, f"unexpected: {exc!r}")
        return "failed"


def reminders_deliver(*, reminder_ids: list[int]) -> dict[str, int]:
    """Delivers the given claimed reminders, one at a time: each attempt is counted in its own
    committed transaction right before the provider call, then sent in its own transaction."""
    counts: dict[str, int] = {}
    order = _renew_leases(sorted({int(pk) for pk in reminder_ids}))
    patients = {
        p.pk: p
        for p in PatientProfile.objects.select_related("user", "clinic").filter(
            pk__in=Reminder.objects.filter(pk__in=order).values("patient_id")
        )
    }
    for pk in order:
        result = _start_attempt(pk)
        if result == "go":
            result = _deliver_one(pk, patients)
        if result != "skipped":
            counts[result] = counts.get(result, 0) + 1
    return counts
