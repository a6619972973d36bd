"""JWT authentication for the sync endpoints that loads the user's patient profile in the same
query (a pull is the app's most frequent request). simplejwt's own checks (active user, token
revoked by a password change) run unchanged: only the queryset it looks the user up in differs.
"""

from types import SimpleNamespace

from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.models import User


class PatientJWTAuthentication(JWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = SimpleNamespace(
            objects=User.objects.select_related("patient_profile"), DoesNotExist=User.DoesNotExist
        )
