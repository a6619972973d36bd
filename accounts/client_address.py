"""The client's network address, for the sign-in lockout (django-axes) and the rate limits (DRF
throttles): one rule for both.

With no reverse proxy configured (``REALIGN_PROXY_COUNT`` = ``AXES_PROXY_COUNT`` = 0, the
default) it is the socket's address, ``REMOTE_ADDR``; ``X-Forwarded-For`` is ignored, since any
client can send it. Behind N proxies, each of which appends the address it received the request
from, it is the N-th address from the right of ``X-Forwarded-For`` (the right-most with one
proxy): what the client wrote to the left of that is ignored. An entry that is not an IP address
falls back to ``REMOTE_ADDR``. DRF's ``NUM_PROXIES`` is set to the same count
(``config/settings.py``), and its throttles pick the same entry.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.REALIGN_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded.strip():
        return remote
    addresses = [part.strip() for part in forwarded.split(",")]
    candidate = addresses[-min(proxies, len(addresses))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
