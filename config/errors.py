"""The domain's refusals: plain exceptions that services raise, knowing nothing of HTTP.

Each says what kind of "no" it is; the API edge (``config.api.errors``) maps the kind to a
status code and renders the one error shape, the admin shows ``detail`` on the form, sync push
names the record. ``code`` is the machine-readable reason, ``attr`` the field it is about.
"""


class DomainError(Exception):
    """A rule of the domain said no."""

    default_code = "invalid"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        attr: str | None = None,
        extra: dict | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.attr = attr
        self.extra = extra or {}

    def renamed(self, attr: str) -> "DomainError":
        """The same refusal, pointing at ``attr`` (and the field the service named, if any)."""
        return type(self)(
            self.detail,
            code=self.code,
            attr=f"{attr}.{self.attr}" if self.attr else attr,
            extra=self.extra,
        )


class Invalid(DomainError):
    """The input breaks a rule (400)."""


class Unauthenticated(DomainError):
    """Who is asking could not be established (401)."""

    default_code = "not_authenticated"


class Forbidden(DomainError):
    """The caller may not do this (403)."""

    default_code = "permission_denied"


class NotFound(DomainError):
    """No such thing in the caller's scope (404)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The state changed or the id is taken (409)."""

    default_code = "conflict"


class PayloadTooLarge(DomainError):
    """More than the limit (413)."""

    default_code = "payload_too_large"


class Gone(DomainError):
    """It existed and does not any more (410): an expired download."""

    default_code = "gone"


class UnsupportedMediaType(DomainError):
    """Content of a type the endpoint does not take (415): an upload that is no supported image."""

    default_code = "unsupported_media_type"


class TooManyRequests(DomainError):
    """Locked out or rate limited (429)."""

    default_code = "throttled"
