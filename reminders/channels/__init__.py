"""Delivery channels. A channel's ``send`` runs inside the delivery transaction, with the
reminder row locked, and either returns an ``Outcome`` or raises one of the named errors below.
Anything else is a bug: the reminder is marked failed with the error (never retried blindly)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


class DeliveryError(Exception):
    pass


class TransientDeliveryError(DeliveryError):
    """Worth another try later: a timeout, a 5xx, a dropped connection, a quota."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: a rejected recipient, a malformed message, bad credentials."""


@dataclass(frozen=True)
class Outcome:
    sent: bool
    note: str = ""


SENT = Outcome(sent=True)


class Channel:
    name = ""
    # True when send() writes rows the app syncs (the inbox): their commit must be durable
    # before anyone can pull them, so such deliveries keep synchronous commit.
    synced_writes = False

    def send(self, reminder) -> Outcome:  # pragma: no cover - interface
        raise NotImplementedError


@cache
def _load(path: str) -> Channel:
    return import_string(path)()


def channel_for(name: str) -> Channel:
    override = getattr(settings, "REMINDERS_CHANNEL_BACKEND_OVERRIDE", "")
    if override:
        return _load(override)
    return _load(settings.REMINDERS_CHANNEL_BACKENDS[name])


def reset_channels() -> None:
    _load.cache_clear()
