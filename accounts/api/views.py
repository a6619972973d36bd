from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from config.api.openapi import errors
from config.errors import Forbidden, Invalid, TooManyRequests, Unauthenticated

from .. import services
from ..client_address import client_ip
from ..settings_hooks import patient_settings_changed
from ..tokens import refresh_rotate, tokens_for
from ..two_factor import api_second_factor_check
from . import serializers as s


class AddressThrottle(ScopedRateThrottle):
    """Per-scope rate limit keyed on the client's address as the lockout sees it
    (``accounts.client_address.client_ip``: the socket's unless proxies are configured)."""

    def get_ident(self, request):
        return client_ip(request) or ""


class _Throttled(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AddressThrottle]


class TokenObtainView(_Throttled):
    """Sign in with e-mail and password; answers an access and a refresh token."""

    throttle_scope = "login"

    @extend_schema(
        summary="Sign in",
        request=s.TokenObtainInput,
        responses={
            200: s.TokenPairOutput,
            **errors(
                401,
                403,
                s401="`authentication_failed`; `otp_required` or `otp_invalid` (attr `otp`).",
                s403="`two_factor_enrolment_required`: set up an authenticator app first.",
            ),
        },
        auth=[],
    )
    def post(self, request):
        data = s.TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request, email=data.validated_data["email"], password=data.validated_data["password"]
        )
        if getattr(request, "axes_locked_out", False):
            raise TooManyRequests(
                "Too many failed sign-ins for this account from this address; try again later.",
                code="locked_out",
            )
        if user is None or not user.is_active:
            raise Unauthenticated(
                "No active account with this e-mail and password.",
                code="authentication_failed",
            )
        api_second_factor_check(
            request=request,
            user=user,
            email=data.validated_data["email"],
            token=data.validated_data.get("otp", ""),
        )
        return Response(tokens_for(user))


class TokenRefreshView(_Throttled):
    """Exchanges a refresh token for a new pair; the old refresh token stops working."""

    throttle_scope = "login"

    @extend_schema(
        summary="Rotate the refresh token",
        request=s.RefreshInput,
        responses={
            200: s.TokenPairOutput,
            **errors(401, s401="`token_not_valid`: expired, reused or revoked (attr `refresh`)."),
        },
        auth=[],
    )
    def post(self, request):
        data = s.RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(refresh_rotate(raw=data.validated_data["refresh"]))


class LogoutView(APIView):
    """Blacklists the given refresh token (of the signed-in user)."""

    @extend_schema(summary="Sign out", request=s.RefreshInput, responses={204: None})
    def post(self, request):
        data = s.RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise Invalid(str(exc), code="token_not_valid", attr="refresh") from exc
        if str(token.get("user_id")) != str(request.user.pk):
            raise Invalid(
                "This refresh token belongs to another account.",
                code="token_not_valid",
                attr="refresh",
            )
        token.blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActivateView(_Throttled):
    """A patient joins with the invitation code from their clinic and chooses a password."""

    throttle_scope = "activation"

    @extend_schema(
        summary="Join with an invitation code",
        request=s.ActivateInput,
        responses={200: s.TokenPairOutput},
        auth=[],
    )
    def post(self, request):
        data = s.ActivateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.invitation_activate(**data.validated_data)
        return Response(tokens_for(user))


class PasswordResetRequestView(_Throttled):
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Ask for a password reset e-mail",
        request=s.PasswordResetRequestInput,
        responses={202: s.DetailOutput},
        auth=[],
    )
    def post(self, request):
        data = s.PasswordResetRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response(
            {"detail": "If the account exists, an e-mail with reset instructions is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(_Throttled):
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Set a new password with a reset token",
        request=s.PasswordResetConfirmInput,
        responses={204: None},
        auth=[],
    )
    def post(self, request):
        data = s.PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    throttle_classes = [AddressThrottle]
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Change the password",
        request=s.PasswordChangeInput,
        responses={200: s.TokenPairOutput},
    )
    def post(self, request):
        data = s.PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not request.user.check_password(data.validated_data["current_password"]):
            raise Invalid(
                "The current password is wrong.", code="wrong_password", attr="current_password"
            )
        services.user_set_password(user=request.user, password=data.validated_data["new_password"])
        return Response(tokens_for(request.user))


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The signed-in user", responses={200: s.MeOutput})
    def get(self, request):
        return Response(s.MeOutput(request.user).data)

    @extend_schema(
        summary="Change the patient's own settings",
        request=s.MeUpdateInput,
        responses={200: s.MeOutput, **errors(403, s403="Clinicians have no settings here.")},
    )
    def patch(self, request):
        if not request.user.is_patient:
            raise Forbidden(
                "Only patients have settings to change here.",
                code="permission_denied",
            )
        data = s.MeUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            profile, changed = services.patient_preferences_update(
                profile=request.user.patient_profile, **data.validated_data
            )
            patient_settings_changed(profile=profile, changed=changed)
        return Response(s.MeOutput(request.user).data)
