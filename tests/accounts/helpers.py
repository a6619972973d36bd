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
