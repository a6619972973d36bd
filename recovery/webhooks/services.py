"""A clinic admin's writes on webhook endpoints: register one (the server makes its secret,
shown once), change it, rotate its secret, and resend deliveries."""

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import is_clinic_admin
from config.errors import Forbidden, Invalid, NotFound

from .events import deliveries_enqueue
from .models import DeliveryStatus, EventType, WebhookDelivery, WebhookEndpoint
from .signing import secret_generate

ENDPOINT_FIELDS = ("url", "description", "event_types", "is_active")


def _may_manage(actor: User, clinic_id: int) -> None:
    if not is_clinic_admin(actor):
        raise Forbidden("Only a clinic admin manages webhooks.", code="permission_denied")
    if not actor.is_superuser and actor.clinic_id != clinic_id:
        # Another clinic's endpoint is as if it did not exist.
        raise NotFound("No such webhook endpoint.", code="not_found")


def _check(endpoint: WebhookEndpoint) -> None:
    types = endpoint.event_types
    if not isinstance(types, list) or not types:
        raise ValidationError(
            {"event_types": ValidationError("Choose at least one event.", code="required")}
        )
    unknown = sorted(set(types) - set(EventType.values))
    if unknown:
        raise ValidationError(
            {
                "event_types": ValidationError(
                    "Unknown event: " + ", ".join(unknown) + ".", code="invalid_choice"
                )
            }
        )
    endpoint.event_types = [t for t in EventType.values if t in types]  # one order, no repeats
    if settings.WEBHOOK_REQUIRE_HTTPS and urlsplit(endpoint.url).scheme != "https":
        raise ValidationError(
            {"url": ValidationError("A webhook endpoint must use https://.", code="invalid")}
        )
    endpoint.full_clean()


@transaction.atomic
def webhook_endpoint_create(
    *,
    actor: User,
    clinic_id: int,
    url: str,
    event_types: list[str],
    description: str = "",
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Registers an endpoint with a new secret. Returns ``(endpoint, secret)``: show the secret
    to the clinic admin now; it is not shown again (rotate to get a new one)."""
    _may_manage(actor, clinic_id)
    endpoint = WebhookEndpoint(
        clinic_id=clinic_id,
        url=url,
        description=description,
        event_types=list(event_types),
        is_active=is_active,
        secret=secret_generate(),
        created_by=actor,
    )
    _check(endpoint)
    endpoint.save()
    return endpoint, endpoint.secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    fresh = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    if fresh is None:
        raise NotFound("No such webhook endpoint.", code="not_found")
    return fresh


@transaction.atomic
def webhook_endpoint_update(*, actor: User, endpoint: WebhookEndpoint, **values) -> WebhookEndpoint:
    """Changes ``url``, ``description``, ``event_types`` or ``is_active``. Turning an endpoint
    back on clears its failures; the deliveries that waited are sent by the next sweep."""
    unknown = sorted(set(values) - set(ENDPOINT_FIELDS))
    if unknown:
        raise Invalid("Unknown or read-only field: " + ", ".join(unknown) + ".", code="invalid")
    endpoint = _locked(endpoint)
    _may_manage(actor, endpoint.clinic_id)
    was_active = endpoint.is_active
    for name, value in values.items():
        setattr(endpoint, name, value)
    if endpoint.is_active and not was_active:
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    _check(endpoint)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_secret_rotate(*, actor: User, endpoint: WebhookEndpoint) -> str:
    """A new secret for the endpoint, returned to be shown once. The old one keeps signing too
    (a second signature) for ``WEBHOOK_SECRET_ROTATION_GRACE_SECONDS``, so a receiver can switch
    without losing events."""
    endpoint = _locked(endpoint)
    _may_manage(actor, endpoint.clinic_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(
        seconds=settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS
    )
    endpoint.secret = secret_generate()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint.secret


@transaction.atomic
def webhook_delivery_resend(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Sends a delivery again, whatever its state, with a fresh set of attempts and the same
    event id (a receiver that already has it may drop it). Refused while the endpoint is off."""
    fresh = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery.pk)
        .first()
    )
    if fresh is None:
        raise NotFound("No such webhook delivery.", code="not_found")
    _may_manage(actor, fresh.endpoint.clinic_id)
    if not fresh.endpoint.is_active:
        raise Invalid(
            "This endpoint is turned off: turn it back on before resending.",
            code="invalid_state",
            attr="endpoint",
        )
    fresh.status = DeliveryStatus.PENDING
    fresh.attempts = 0
    fresh.next_attempt_at = timezone.now()
    fresh.claimed_until = None
    fresh.save(update_fields=["status", "attempts", "next_attempt_at", "claimed_until"])
    transaction.on_commit(lambda: deliveries_enqueue([fresh.pk]), robust=True)
    return fresh
