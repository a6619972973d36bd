"""Reading the links out of the e-mails accounts sends."""

import re
from urllib.parse import parse_qs, urlsplit

from django.conf import settings


def link_in(body: str, page: str) -> dict[str, str]:
    """The query parameters of the ``APP_LINK_BASE`` + ``page`` link in an e-mail body."""
    base = settings.APP_LINK_BASE
    base = re.escape((base if base.endswith("/") else base + "/") + page)
    found = re.findall(base + r"\?\S+", body)
    assert len(found) == 1, body
    return {k: v[0] for k, v in parse_qs(urlsplit(found[0]).query).items()}


CAREGIVER_PASSWORD = "a-caregiver-password-9"


def caregiver_of(patient, *scopes, email="carer@example.test", expires_at=None):
    """An active caregiver account (password ``CAREGIVER_PASSWORD``) with a grant of
    ``scopes`` (default: read) on ``patient``, as the patient invites and the caregiver
    activates."""
    from django.db import transaction

    from accounts.caregivers import caregiver_invite
    from accounts.models import User

    with transaction.atomic():
        grant, _ = caregiver_invite(
            patient=patient,
            actor=patient.user,
            email=email,
            first_name="Casey",
            last_name="Carer",
            scopes=list(scopes or ("read",)),
            expires_at=expires_at,
        )
    user = User.objects.get(pk=grant.caregiver_id)
    if not user.is_active:
        user.set_password(CAREGIVER_PASSWORD)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    grant.refresh_from_db()
    return user, grant
