"""Standard Webhooks signatures (https://www.standardwebhooks.com/, version 1).

The secret is ``whsec_`` followed by the base64 of random bytes; the HMAC key is those bytes.
Each request carries ``webhook-id`` (the event's id: the same on every retry),
``webhook-timestamp`` (Unix seconds when the attempt was signed) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per valid secret, separated by
spaces (two while a rotated secret's predecessor is still valid). ``docs/webhooks.md`` shows
the receiver's check.
"""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, no secret)
SECRET_BYTES = 32  # the spec asks for 24 to 64
TOLERANCE_SECONDS = 5 * 60  # what a receiver accepts between the timestamp and its clock


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict:
    return {
        "Webhook-Id": message_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": " ".join(
            signature(secret=s, message_id=message_id, timestamp=timestamp, body=body)
            for s in secrets_
        ),
    }


def verify(*, secret: str, headers, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS):
    """What a receiver does (the tests' receiver uses it; ``docs/webhooks.md`` has a copy a
    receiver can take without this project): True when the timestamp is within ``tolerance`` of
    ``now`` and one ``v1`` signature matches, compared in constant time."""
    message_id = headers.get("Webhook-Id") or headers.get("webhook-id")
    timestamp = headers.get("Webhook-Timestamp") or headers.get("webhook-timestamp")
    signatures = headers.get("Webhook-Signature") or headers.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    expected = signature(secret=secret, message_id=message_id, timestamp=sent, body=body)
    return any(hmac.compare_digest(expected, given) for given in signatures.split(" "))
