"""Delivering a webhook: one attempt at a time, claimed in the database, with the HTTP call
outside any transaction, and its outcome written to the delivery log.

- ``delivery_attempt(delivery_id)``: claims the delivery (its own committed transaction: row
  lock, status and schedule checked, a lease set, the attempt counted), POSTs the event's
  body signed with the endpoint's secret(s), then records the attempt. A 2xx answer delivers
  it; anything else (another status, a refused connection, a timeout) schedules the next
  attempt with exponential backoff and jitter, until ``WEBHOOK_MAX_ATTEMPTS`` (then failed).
- Every failed attempt counts against the endpoint; ``WEBHOOK_DISABLE_AFTER_FAILURES`` in a
  row turn it off, and the clinic's admins get an e-mail. A success resets the count.
- ``deliveries_sweep()`` (beat): sends again the pending deliveries that are due and whose
  message was lost (a crash between commit and enqueue, a broker restarted empty, a retry
  too far ahead for a countdown on the broker).

At least once: a worker killed between the receiver's answer and the record of it leaves the
lease to expire, and the delivery is attempted again with the same ``webhook-id``, which a
receiver uses to drop the duplicate.
"""

import ipaddress
import logging
import random
import socket
import time
from datetime import timedelta
from smtplib import SMTPException
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Role, User

from .events import deliveries_enqueue
from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .signing import signed_headers

logger = logging.getLogger(__name__)

USER_AGENT = "Realign-Webhooks/1"
ERROR_MAX = 300


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """The wait after the ``attempts``-th failed attempt: base * 2^(attempts-1), capped, with
    "equal jitter" (half fixed, half random) so endpoints that failed together do not all come
    back at once."""
    base = settings.WEBHOOK_RETRY_BACKOFF_SECONDS
    ceiling = settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS
    delay = min(ceiling, base * (2 ** max(0, attempts - 1)))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def _lease() -> timedelta:
    # Longer than one attempt can take (connect + read timeouts) plus the bookkeeping.
    return timedelta(
        seconds=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS
        + settings.WEBHOOK_TIMEOUT_SECONDS
        + settings.WEBHOOK_CLAIM_MARGIN_SECONDS
    )


def delivery_claim(*, delivery_id: int, now=None) -> WebhookDelivery | None:
    """Claims one attempt of a pending, due, unclaimed delivery to an active endpoint, in its
    own transaction. None when there is nothing to do (delivered, failed, not due, another
    worker on it, endpoint off, gone)."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None or not delivery.endpoint.is_active:
            return None
        # A countdown may fire a little before the schedule: a second of slack.
        if delivery.next_attempt_at > now + timedelta(seconds=1):
            return None
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return None
        delivery.claimed_until = now + _lease()
        delivery.attempts += 1
        delivery.save(update_fields=["claimed_until", "attempts"])
    return delivery


def _signing_secrets(endpoint: WebhookEndpoint, now) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and (
        endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now
    ):
        keys.append(endpoint.previous_secret)
    return keys


def _private_address(url: str) -> str | None:
    """The first address of ``url``'s host that is not public (loopback, private, link-local:
    the server's own network, cloud metadata), or None. A clinic admin's URL must not reach
    inside the hosting network (server-side request forgery)."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None  # the request itself reports the name that does not resolve
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return str(address)
    return None


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    """One signed POST, no redirects followed. Returns (status code or None, error, ms)."""
    endpoint, event = delivery.endpoint, delivery.event
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        address = _private_address(endpoint.url)
        if address is not None:
            return None, f"refused: {address} is not a public address", 0
    body = event.body.encode()
    now = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(
            secrets_=_signing_secrets(endpoint, now),
            message_id=str(event.pk),
            timestamp=int(now.timestamp()),
            body=body,
        ),
    }
    started = time.monotonic()
    try:
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS),
            allow_redirects=False,
            stream=True,  # the answer's body is not read: only its status counts
        ) as response:
            code = response.status_code
        error = "" if 200 <= code < 300 else f"HTTP {code}"
    except requests.Timeout as exc:
        code, error = None, f"timeout: {exc.__class__.__name__}"
    except requests.ConnectionError as exc:
        code, error = None, f"connection failed: {exc.__class__.__name__}"
    except requests.RequestException as exc:
        code, error = None, f"request failed: {exc.__class__.__name__}: {exc}"
    return code, error[:ERROR_MAX], int((time.monotonic() - started) * 1000)


def delivery_record(
    *, delivery: WebhookDelivery, status_code: int | None, error: str, duration_ms: int
) -> WebhookDelivery:
    """Writes the attempt to the log and moves the delivery on (delivered, retried later or
    failed); counts the endpoint's failures and turns it off at the limit. Returns the
    delivery as stored."""
    now = timezone.now()
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        fresh = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        WebhookAttempt.objects.create(
            delivery=fresh,
            attempted_at=now - timedelta(milliseconds=duration_ms),
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
            succeeded=ok,
        )
        fresh.claimed_until = None
        fresh.last_status_code = status_code
        fresh.last_error = error
        retry_in = None
        if ok:
            fresh.status = DeliveryStatus.DELIVERED
            fresh.delivered_at = now
        elif fresh.status == DeliveryStatus.PENDING:
            if fresh.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
                fresh.status = DeliveryStatus.FAILED
            else:
                retry_in = backoff_seconds(fresh.attempts)
                fresh.next_attempt_at = now + timedelta(seconds=retry_in)
        fresh.save()
        endpoint_count_failure(endpoint_id=fresh.endpoint_id, ok=ok, error=error)
        if retry_in is not None and retry_in <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS:
            # Short waits as a countdown on the broker (well under its visibility timeout);
            # longer ones are left to the sweep. Either way the row is the schedule.
            transaction.on_commit(
                lambda: deliveries_enqueue([fresh.pk], countdown=retry_in), robust=True
            )
    return fresh


def endpoint_count_failure(*, endpoint_id: int, ok: bool, error: str = "") -> None:
    """Inside the caller's transaction: a success resets the endpoint's run of failures, a
    failure adds one; at ``WEBHOOK_DISABLE_AFTER_FAILURES`` it is turned off and its clinic's
    admins are told after commit."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if ok:
        endpoints.exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    endpoints.update(consecutive_failures=F("consecutive_failures") + 1)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if not endpoint.is_active or endpoint.consecutive_failures < limit:
        return
    endpoint.is_active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = (
        f"Turned off after {endpoint.consecutive_failures} failed attempts in a row"
        f" (last: {error or 'unknown error'})."
    )[:300]
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    transaction.on_commit(lambda: endpoint_disabled_notify(endpoint_id=endpoint.pk), robust=True)


def endpoint_disabled_notify(*, endpoint_id: int) -> int:
    """E-mails the clinic's active admins that an endpoint was turned off (no clinical data: the
    endpoint, why, and where to turn it back on). Returns the number of recipients."""
    endpoint = WebhookEndpoint.objects.select_related("clinic").get(pk=endpoint_id)
    recipients = list(
        User.objects.filter(
            clinic_id=endpoint.clinic_id, role=Role.CLINIC_ADMIN, is_active=True
        ).values_list("email", flat=True)
    )
    recipients = [address for address in recipients if address]
    if not recipients:
        return 0
    link = (
        f"{settings.REALIGN_ADMIN_URL.rstrip('/')}/recovery/webhookendpoint/{endpoint.pk}/change/"
    )
    try:
        send_mail(
            subject="[Realign] A webhook endpoint was turned off",
            message=(
                f"The webhook endpoint {endpoint.url} of {endpoint.clinic.name} was turned off: "
                f"{endpoint.disabled_reason}\n\n"
                "Events that were waiting for it are kept and sent when it is turned back on.\n"
                f"Check the receiver, then turn the endpoint back on in Realign: {link}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except (SMTPException, OSError):
        logger.exception("webhooks: could not tell the clinic admins of endpoint %s", endpoint_id)
        return 0
    return len(recipients)


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt of a delivery, if it is due and nobody else is attempting it (see the
    module). Returns the delivery after the attempt, or None when there was nothing to do."""
    delivery = delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return None
    status_code, error, duration_ms = _post(delivery)
    return delivery_record(
        delivery=delivery, status_code=status_code, error=error, duration_ms=duration_ms
    )


def deliveries_sweep(*, now=None, batch: int | None = None) -> list[int]:
    """Enqueues the pending deliveries to active endpoints that are due since
    ``WEBHOOK_SWEEP_GRACE_SECONDS`` and not under a live lease: their message was lost or is
    not on the broker (a retry longer than a countdown). Their schedule moves to now, so the
    next sweep leaves them to that message for another grace period. Rows are claimed with
    SKIP LOCKED: two beats sweep different rows."""
    now = now or timezone.now()
    batch = batch or settings.WEBHOOK_SWEEP_BATCH
    stale = now - timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=DeliveryStatus.PENDING,
                next_attempt_at__lte=stale,
                endpoint__is_active=True,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
            transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
    return ids
