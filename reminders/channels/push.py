"""Push through Firebase Cloud Messaging (firebase-admin), to Android and to iOS (FCM relays to
APNs with the ``apns-collapse-id`` header we set). Credentials come from the environment
(``FCM_CREDENTIALS_FILE``, ``FCM_PROJECT_ID``); without them the channel reports "not
configured" and the reminder is cancelled with that reason, visible in the admin.

Each message carries the reminder's deduplication key as the Android collapse key and, hashed
to APNs' 64-byte limit, as the APNs collapse id: a repeated call after a crash between the
provider's answer and our commit replaces the first notification instead of showing a second.
"""

from __future__ import annotations

import hashlib
import threading
import warnings

import firebase_admin
from django.conf import settings
from django.utils import timezone
from firebase_admin import credentials, exceptions, messaging

from ..messages import render
from ..models import Device, StaffDevice
from . import SENT, Channel, Outcome, PermanentDeliveryError, TransientDeliveryError

APP_NAME = "realign-reminders"
_lock = threading.Lock()

# Named by firebase-admin; only these are retried.
TRANSIENT = (
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.UnknownError,
    messaging.QuotaExceededError,
    exceptions.ResourceExhaustedError,
)
# The token is gone or belongs to another sender: deactivate the device.
DEAD_TOKEN = (messaging.UnregisteredError, messaging.SenderIdMismatchError)


def fcm_app(credential=None) -> firebase_admin.App | None:
    """The process's firebase app, created on first use; None when push is not configured."""
    with _lock:
        try:
            return firebase_admin.get_app(APP_NAME)
        except ValueError:
            pass
        if credential is None:
            if not settings.FCM_CREDENTIALS_FILE:
                return None
            credential = credentials.Certificate(settings.FCM_CREDENTIALS_FILE)
        options = {"httpTimeout": settings.REMINDERS_PROVIDER_TIMEOUT}
        if settings.FCM_PROJECT_ID:
            options["projectId"] = settings.FCM_PROJECT_ID
        return firebase_admin.initialize_app(credential, options, name=APP_NAME)


def collapse_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def build_message(reminder, device: Device) -> messaging.Message:
    rendered = render(reminder)
    key = collapse_id(reminder.dedup_key)
    # The app registers FCM registration tokens; firebase-admin 7.7 prefers Firebase
    # installation ids (``fid``) but still sends ``token``, which FCM v1 accepts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _message(rendered, key, reminder, device)


def _message(rendered, key, reminder, device) -> messaging.Message:
    return messaging.Message(
        token=device.token,
        notification=messaging.Notification(title=rendered.push_title, body=rendered.push_body),
        data={"reminder_id": str(reminder.pk), "kind": reminder.kind},
        android=messaging.AndroidConfig(collapse_key=key, priority="high"),
        apns=messaging.APNSConfig(headers={"apns-collapse-id": key}),
    )


class PushChannel(Channel):
    name = "push"

    def send(self, reminder) -> Outcome:
        if reminder.recipient_id is not None:
            # A caregiver's copy: their own phones (registered at /api/v1/devices/).
            devices = list(StaffDevice.objects.filter(user_id=reminder.recipient_id, active=True))
            model = StaffDevice
        else:
            devices = list(Device.objects.filter(patient_id=reminder.patient_id, active=True))
            model = Device
        if not devices:
            return Outcome(sent=False, note="no registered device")
        app = fcm_app()
        if app is None:
            return Outcome(sent=False, note="push is not configured (FCM_CREDENTIALS_FILE)")
        delivered, transient, permanent, dead = 0, [], [], []
        for device in devices:
            try:
                messaging.send(build_message(reminder, device), app=app)
            except DEAD_TOKEN as exc:
                dead.append((device, exc))
            except TRANSIENT as exc:
                transient.append(f"{type(exc).__name__}: {exc}")
            except (exceptions.FirebaseError, ValueError) as exc:
                permanent.append(f"{type(exc).__name__}: {exc}")
            else:
                delivered += 1
        now = timezone.now()
        for device, exc in dead:
            device.active = False
            device.deactivated_reason = f"{type(exc).__name__}: {exc}"[:200]
            device.save(update_fields=["active", "deactivated_reason", "updated_at"])
        if delivered:
            model.objects.filter(
                pk__in=[d.pk for d in devices if d not in {x for x, _ in dead}]
            ).update(last_used_at=now)
            return Outcome(sent=True, note="; ".join(transient + permanent))
        if transient:
            raise TransientDeliveryError("; ".join(transient))
        if permanent:
            raise PermanentDeliveryError("; ".join(permanent))
        return SENT if not dead else Outcome(sent=False, note="every device token is unregistered")


def push_to_staff(
    *, user_ids, title: str, body: str, collapse_key: str, data: dict | None = None
) -> int:
    """Urgent push to clinicians' registered phones (red-flag alerts). Runs outside any
    transaction (a Celery task). Returns how many devices took it; dead tokens are deactivated;
    raises ``TransientDeliveryError`` when nothing was delivered and a retry may help. Without
    push credentials it sends nothing and returns 0."""
    devices = list(StaffDevice.objects.filter(user_id__in=list(user_ids), active=True))
    app = fcm_app() if devices else None
    if app is None:
        return 0
    key = collapse_id(collapse_key)
    delivered, transient = 0, []
    for device in devices:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", DeprecationWarning
                )  # ``token``, as in build_message
                message = messaging.Message(
                    token=device.token,
                    notification=messaging.Notification(title=title, body=body),
                    data={k: str(v) for k, v in (data or {}).items()},
                    android=messaging.AndroidConfig(collapse_key=key, priority="high"),
                    apns=messaging.APNSConfig(
                        headers={"apns-collapse-id": key, "apns-priority": "10"}
                    ),
                )
                messaging.send(message, app=app)
        except DEAD_TOKEN as exc:
            StaffDevice.objects.filter(pk=device.pk).update(
                active=False, deactivated_reason=f"{type(exc).__name__}: {exc}"[:200]
            )
        except TRANSIENT as exc:
            transient.append(f"{type(exc).__name__}: {exc}")
        except (exceptions.FirebaseError, ValueError):
            continue  # this token is refused for good; the e-mail still goes out
        else:
            delivered += 1
    if delivered:
        StaffDevice.objects.filter(pk__in=[d.pk for d in devices]).update(
            last_used_at=timezone.now()
        )
    elif transient:
        raise TransientDeliveryError("; ".join(transient))
    return delivered
