"""The API's authentication: simplejwt's JWT, loading the user's patient profile in the same
query. Most API calls come from patients' phones, and a patient's scope is their own profile
(``accounts.selectors.own_patient_id``): with the profile loaded here, a patient's reads need no
further query to find it, and filter on a plain id. simplejwt's own checks (active user, token
revoked by a password change) run unchanged: only the queryset it looks the user up in differs.
"""

from types import SimpleNamespace

from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from .models import User


class JWTAuthentication(SimpleJWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = SimpleNamespace(
            objects=User.objects.select_related("patient_profile"), DoesNotExist=User.DoesNotExist
        )
