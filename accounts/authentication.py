"""The API's authentication: simplejwt's JWT, with the caller's own patient profile id read in
the same query as the user (``own_patient_pk``; None for staff). Most API calls come from
patients' phones, and a patient's scope is their own profile (``accounts.selectors.own_patient_id``):
with its id on the user, a patient's reads need no query to find it and filter on a plain id.
simplejwt's own checks (active user, token revoked by a password change) run unchanged: only
the queryset it looks the user up in differs.
"""

from types import SimpleNamespace

from django.db.models import F
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from .models import User


class JWTAuthentication(SimpleJWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = SimpleNamespace(
            objects=User.objects.annotate(own_patient_pk=F("patient_profile__pk")),
            DoesNotExist=User.DoesNotExist,
        )


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of simplejwt's class (``jwtAuth``), for this one."""

    target_class = JWTAuthentication
