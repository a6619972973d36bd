"""JWT issue and rotation on top of simplejwt, closing the gaps its defaults leave.

- A refresh is done under a row lock on the outstanding token, so two concurrent refreshes of
  the same token cannot both succeed (the second finds it blacklisted).
- A refresh token issued before a password change is refused (its password digest no longer
  matches), as is one whose user is gone or inactive.
"""

from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from config.errors import DomainError, Unauthenticated

from .models import User


def tokens_for(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _invalid(detail: str) -> DomainError:
    return Unauthenticated(detail, code="token_not_valid", attr="refresh")


@transaction.atomic
def refresh_rotate(*, raw: str) -> dict:
    try:
        token = RefreshToken(raw, verify=True)
    except TokenError as exc:
        raise _invalid(str(exc)) from exc
    jti = token[api_settings.JTI_CLAIM]
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
    if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
        raise _invalid("Token is blacklisted")
    user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM), is_active=True).first()
    if user is None:
        raise _invalid("No active account found for the given token.")
    if token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise _invalid("The password has changed since this token was issued.")
    BlacklistedToken.objects.create(token=outstanding)
    return tokens_for(user)
