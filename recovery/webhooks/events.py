"""The outbox: ``webhook_event_emit`` writes an event and its deliveries in the caller's
transaction, and enqueues their first attempt after commit.

Called from the write hooks in ``kinds.py`` (inside the write's transaction), so a change that
rolls back emits nothing and one that commits has its deliveries stored with it: if the enqueue
after commit is lost (a crash, a broker down), the sweep (``delivery.deliveries_sweep``) finds
the pending rows and sends them.

Payloads are small and carry no names or free text: the event's id, its type, when it
occurred, the clinic, and the ids and kinds of what it is about (``data``). A receiver that
needs more asks the API with its own credentials.
"""

from dataclasses import dataclass

import orjson
from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

DELIVER_TASK = "recovery.webhook_deliver"  # the task in recovery.webhooks.tasks


@dataclass(frozen=True)
class Emit:
    clinic_id: int
    type: str
    data: dict
    dedup_key: str | None = None


def _body(event_id, emit: Emit, occurred_at) -> str:
    return orjson.dumps(
        {
            "id": str(event_id),
            "type": emit.type,
            "occurred_at": occurred_at.isoformat(),
            "clinic": emit.clinic_id,
            "data": emit.data,
        },
        option=orjson.OPT_SORT_KEYS,
    ).decode()


def _subscribers(clinic_ids) -> dict[int, list[WebhookEndpoint]]:
    by_clinic: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(clinic_id__in=clinic_ids, is_active=True):
        by_clinic.setdefault(endpoint.clinic_id, []).append(endpoint)
    return by_clinic


def webhook_events_emit(*, emits: list[Emit]) -> list[WebhookEvent]:
    """Writes each event that an active endpoint of its clinic subscribed to, with one pending
    delivery per such endpoint; nothing for events no endpoint wants. An event with a
    ``dedup_key`` already emitted is skipped. Queries: the endpoints (one), the known dedup keys
    (one, when any), and one insert each for the events and the deliveries."""
    if not emits:
        return []
    endpoints = _subscribers({e.clinic_id for e in emits})
    wanted = [(e, [ep for ep in endpoints.get(e.clinic_id, ()) if ep.wants(e.type)]) for e in emits]
    wanted = [(e, eps) for e, eps in wanted if eps]
    keys = {e.dedup_key for e, _ in wanted if e.dedup_key}
    if keys:
        seen = set(
            WebhookEvent.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True)
        )
        fresh, kept = [], set()
        for e, eps in wanted:
            if e.dedup_key and (e.dedup_key in seen or e.dedup_key in kept):
                continue
            kept.add(e.dedup_key)
            fresh.append((e, eps))
        wanted = fresh
    if not wanted:
        return []
    now = timezone.now()
    events, deliveries = [], []
    for emit, eps in wanted:
        event = WebhookEvent(clinic_id=emit.clinic_id, type=emit.type, occurred_at=now)
        event.body = _body(event.pk, emit, now)
        event.dedup_key = emit.dedup_key
        events.append(event)
        deliveries += [WebhookDelivery(event=event, endpoint=ep, next_attempt_at=now) for ep in eps]
    try:
        with transaction.atomic():
            WebhookEvent.objects.bulk_create(events)
    except IntegrityError:  # a dedup key taken concurrently: emitted once already
        return []
    WebhookDelivery.objects.bulk_create(deliveries)
    delivery_ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids), robust=True)
    return events


def webhook_event_emit(
    *, clinic_id: int, type: str, data: dict, dedup_key: str | None = None
) -> WebhookEvent | None:
    """One event (see ``webhook_events_emit``); None when no endpoint wants it."""
    events = webhook_events_emit(
        emits=[Emit(clinic_id=clinic_id, type=type, data=data, dedup_key=dedup_key)]
    )
    return events[0] if events else None


def deliveries_enqueue(delivery_ids, *, countdown: float | None = None) -> None:
    """Sends the delivery task by its stable name (this module never imports the tasks). A
    message lost here is found by the sweep."""
    for delivery_id in delivery_ids:
        current_app.send_task(DELIVER_TASK, args=(delivery_id,), countdown=countdown)
