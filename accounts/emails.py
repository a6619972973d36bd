"""The e-mails of accounts: the invitation and the password reset.

Rendered from ``accounts/templates/accounts/email/<name>_subject.txt`` and ``<name>.txt`` and
sent through Django's e-mail backend (``EMAIL_URL``: the console in development, SMTP in
production, the in-memory outbox in tests). Callers send after commit
(``transaction.on_commit(..., robust=True)``): no network inside a transaction, and a mail
server that fails is logged without undoing the write (the staff member can resend).

Links point into the app: ``APP_LINK_BASE`` (``realign://`` by default, or an https universal
link such as ``https://app.example.org/``) followed by the page and its parameters.
"""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def app_link(page: str, **params: str) -> str:
    """``APP_LINK_BASE`` + ``page`` + the query string, e.g. ``realign://activate?token=...``."""
    base = settings.APP_LINK_BASE
    if not base.endswith("/"):
        base += "/"
    return f"{base}{page}?{urlencode(params)}"


def templated_mail_send(*, name: str, to: str, context: dict) -> None:
    subject = render_to_string(f"accounts/email/{name}_subject.txt", context)
    body = render_to_string(f"accounts/email/{name}.txt", context)
    send_mail(
        subject=" ".join(subject.split()),
        message=body,
        from_email=None,
        recipient_list=[to],
    )
    logger.info("accounts: sent %s e-mail", name)
