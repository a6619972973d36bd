from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Signs in by e-mail, whatever its case."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        return super().authenticate(request, username=email or username, password=password)


def axes_username(request, credentials):
    """The account that django-axes counts failures for: the lower-cased e-mail."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if value is None and request is not None:
        data = getattr(request, "data", None) or request.POST
        value = data.get("email") or data.get("username")
    return (value or "").strip().lower() or None
