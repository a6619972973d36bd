from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from config.api.openapi import errors
from config.api.pagination import CursorPagination
from config.errors import Forbidden, Invalid, NotFound, TooManyRequests, Unauthenticated

from .. import caregivers, erasure, selectors, services
from ..audit import phi_access_record
from ..client_address import client_ip
from ..models import CLINICIAN_ROLES, Role
from ..roles import is_staff_member, may_invite_patients
from ..settings_hooks import patient_settings_changed
from ..tokens import refresh_rotate, tokens_for
from ..two_factor import api_second_factor_check
from . import serializers as s


def _errors(*codes: int) -> dict:
    """``config.api.openapi.errors`` with what 400 and 404 mean for an invitation."""
    return errors(
        *codes,
        s400="Invalid input (`attr` names the field), or the invitation's state refuses it.",
        s404="No such invitation in your scope.",
    )


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
    """A patient joins: the token of the invitation link and a password of their choice.
    Answers the first pair of tokens; the invitation cannot be used again."""

    throttle_scope = "activation"

    @extend_schema(
        summary="Join with an invitation",
        request=s.ActivateInput,
        responses={200: s.TokenPairOutput, **_errors(400, 429)},
        auth=[],
        description="400 `invalid_invitation`, `invitation_used`, `invitation_revoked` or "
        "`invitation_expired` (`attr: token`), or a password rule (`attr: password`).",
    )
    def post(self, request):
        data = s.ActivateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = caregivers.account_activate(**data.validated_data)
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


class AccessLogPagination(CursorPagination):
    ordering = ("-at", "-id")


class AccessLogView(ListAPIView):
    """Who looked at my record: every read of the signed-in patient's record by the clinic's
    staff (the PHI access log), newest first. A read under an emergency access says why."""

    serializer_class = s.AccessLogEntryOutput
    pagination_class = AccessLogPagination
    filter_backends: list = []

    @extend_schema(
        summary="Who looked at my record",
        responses={
            200: s.AccessLogEntryOutput(many=True),
            **errors(403, s403="Only patients have a record of their own."),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        patient_id = selectors.own_patient_id(self.request.user)
        if patient_id is None:
            raise Forbidden("Only patients have a record of their own.", code="permission_denied")
        return selectors.access_history_for([patient_id])


class ErasureRequestView(APIView):
    """Deleting the account: the patient asks (``POST``, again: the same request), reads where
    it stands (``GET``) and may withdraw it until the clinic confirms (``DELETE``)."""

    permission_classes = [IsAuthenticated]
    ONLY_PATIENTS = "Only patients have an account to delete here."

    @extend_schema(
        summary="My account deletion request",
        responses={200: s.ErasureRequestOutput, **errors(403, 404, s403=ONLY_PATIENTS)},
    )
    def get(self, request):
        profile = erasure.own_profile(request.user)
        latest = profile.erasure_requests.order_by("-requested_at", "-id").first()
        if latest is None:
            raise NotFound("You have not asked to delete your account.", code="not_found")
        return Response(s.ErasureRequestOutput(latest).data)

    @extend_schema(
        summary="Ask to delete my account",
        request=None,
        responses={
            201: s.ErasureRequestOutput,
            200: s.ErasureRequestOutput,
            **errors(403, s403=ONLY_PATIENTS),
        },
    )
    def post(self, request):
        asked, created = erasure.erasure_request(user=request.user)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.ErasureRequestOutput(asked).data, status=code)

    @extend_schema(
        summary="Withdraw my account deletion request",
        responses={200: s.ErasureRequestOutput, **errors(403, 404, s403=ONLY_PATIENTS)},
    )
    def delete(self, request):
        return Response(s.ErasureRequestOutput(erasure.erasure_cancel(user=request.user)).data)


# --- invitations (the clinic's staff) -------------------------------------------------------


class InvitationPagination(CursorPagination):
    ordering = ("-created_at", "-id")

    def decode_cursor(self, request):
        """A cursor that is not one of ours is a 400 ``invalid_cursor`` (DRF answers 404)."""
        try:
            return super().decode_cursor(request)
        except DRFNotFound as exc:
            raise Invalid(
                "This cursor is not valid; start again without it.",
                code="invalid_cursor",
                attr="cursor",
            ) from exc


def _staff_only(user) -> None:
    if not is_staff_member(user):
        raise Forbidden("Invitations are managed by the clinic's staff.", code="permission_denied")


def _invitation_get(request, invitation_id: int):
    _staff_only(request.user)
    invitation = selectors.invitations_for(request.user).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation.", code="not_found")
    return invitation


def _invitation_answer(request, invitation, *, action: str, code=status.HTTP_200_OK) -> Response:
    """An existing invitation shown to staff names the patient: the read is logged."""
    phi_access_record(
        user=request.user,
        patient_ids=[invitation.patient_id],
        action=action,
        resource="invitations",
        request=request,
        object_id=invitation.pk,
    )
    return Response(s.InvitationOutput(invitation).data, status=code)


def _clinic_staff(request, ids, *, roles, attr: str) -> list:
    """The users ``ids`` names, each an active staff member of the caller's clinic in one of
    ``roles``; an id outside that set is a 400 naming the field (it reveals nothing)."""
    wanted = list(dict.fromkeys(ids))
    found = {
        u.pk: u
        for u in selectors.clinic_staff_for_invitation(request.user, roles=roles).filter(
            pk__in=wanted
        )
    }
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise Invalid(
            f"Not a {'surgeon' if attr == 'surgeon' else 'clinician'} of your clinic: "
            + ", ".join(map(str, missing)),
            code="does_not_exist",
            attr=attr,
        )
    return [found[pk] for pk in wanted]


class InvitationListView(ListAPIView):
    """The clinic's patient invitations (``GET``: those of the caller's patients, newest first,
    ``?status=pending|accepted|expired|revoked``) and inviting a patient (``POST``: clinic
    admins and surgeons)."""

    serializer_class = s.InvitationOutput
    pagination_class = InvitationPagination
    filter_backends: list = []

    @extend_schema(
        summary="List invitations",
        parameters=[s.InvitationListQuery],
        responses={200: s.InvitationOutput(many=True), **_errors(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        _staff_only(self.request.user)
        query = s.InvitationListQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        qs = selectors.invitations_for(self.request.user)
        if "status" in query.validated_data:
            qs = qs.filter(current_status=query.validated_data["status"])
        return qs

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        phi_access_record(
            user=self.request.user,
            patient_ids={invitation.patient_id for invitation in page},
            action="list",
            resource="invitations",
            request=self.request,
        )
        return page

    @extend_schema(
        summary="Invite a patient",
        request=s.InvitationCreateInput,
        responses={201: s.InvitationOutput, **_errors(400, 401, 403)},
        operation_id="invitation_create",
        description="Creates the patient (inactive until they activate) and e-mails them the "
        "link. Clinic admins and surgeons of the clinic; a surgeon who invites joins the care "
        "team.",
    )
    def post(self, request):
        user = request.user
        if not may_invite_patients(user):
            raise Forbidden(
                "Only clinic admins and surgeons invite patients.", code="permission_denied"
            )
        data = s.InvitationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        surgeon_id = values.pop("surgeon", None)
        surgeon = None
        if surgeon_id is not None:
            (surgeon,) = _clinic_staff(request, [surgeon_id], roles=(Role.SURGEON,), attr="surgeon")
        care_team = _clinic_staff(
            request, values.pop("care_team"), roles=CLINICIAN_ROLES, attr="care_team"
        )
        invitation, _ = services.patient_invite(
            clinic=user.clinic,
            invited_by=user,
            surgeon=surgeon,
            care_team=tuple(care_team),
            **values,
        )
        return Response(s.InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    @extend_schema(
        summary="One invitation",
        responses={200: s.InvitationOutput, **_errors(401, 403, 404)},
        operation_id="invitation_retrieve",
    )
    def get(self, request, invitation_id: int):
        return _invitation_answer(
            request, _invitation_get(request, invitation_id), action="retrieve"
        )


class InvitationResendView(APIView):
    @extend_schema(
        summary="Resend an invitation",
        request=None,
        responses={200: s.InvitationOutput, **_errors(400, 401, 403, 404)},
        operation_id="invitation_resend",
        description="A new link with a new expiry is e-mailed; the previous link stops working. "
        "Reopens a revoked invitation; 400 `invitation_accepted` once the patient has joined.",
    )
    def post(self, request, invitation_id: int):
        invitation, _ = services.invitation_resend(
            invitation=_invitation_get(request, invitation_id), actor=request.user
        )
        return _invitation_answer(request, invitation, action="resend")


class InvitationRevokeView(APIView):
    @extend_schema(
        summary="Revoke an invitation",
        request=None,
        responses={200: s.InvitationOutput, **_errors(400, 401, 403, 404)},
        operation_id="invitation_revoke",
        description="The link stops working at once; 400 `invitation_accepted` once the "
        "patient has joined.",
    )
    def post(self, request, invitation_id: int):
        invitation = services.invitation_revoke(
            invitation=_invitation_get(request, invitation_id), actor=request.user
        )
        return _invitation_answer(request, invitation, action="revoke")


# --- caregivers (the patient's proxies) -------------------------------------------------------

ONLY_PATIENTS_CAREGIVERS = "Only patients choose caregivers."


def _own_profile_id(user) -> int:
    patient_id = selectors.own_patient_id(user)
    if patient_id is None:
        raise Forbidden(ONLY_PATIENTS_CAREGIVERS, code="permission_denied")
    return patient_id


class CaregiverListView(APIView):
    """The signed-in patient's caregivers (``GET``, with each grant's history) and inviting one
    (``POST``: idempotent for the same e-mail address)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="My caregivers",
        responses={
            200: s.CaregiverGrantOutput(many=True),
            **errors(403, s403=ONLY_PATIENTS_CAREGIVERS),
        },
        operation_id="me_caregivers_list",
    )
    def get(self, request):
        grants = caregivers.grants_of_patient(_own_profile_id(request.user))
        return Response(s.CaregiverGrantOutput(grants, many=True).data)

    @extend_schema(
        summary="Invite a caregiver",
        request=s.CaregiverInviteInput,
        responses={
            201: s.CaregiverGrantOutput,
            200: s.CaregiverGrantOutput,
            **errors(400, 403, s403=ONLY_PATIENTS_CAREGIVERS),
        },
        operation_id="me_caregivers_create",
        description="A new address gets a caregiver account and an e-mail with a single-use "
        "activation link (`POST /auth/activate/`); an existing caregiver account just gets the "
        "access. The same address again: 200 with the same grant (scopes and end updated, a "
        "new link if not yet activated).",
    )
    def post(self, request):
        patient_id = _own_profile_id(request.user)
        data = s.CaregiverInviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        first, _, last = values.pop("name").strip().partition(" ")
        grant, created = caregivers.caregiver_invite(
            patient=request.user.patient_profile,
            actor=request.user,
            first_name=first,
            last_name=last.strip(),
            **values,
        )
        grant = caregivers.grants_of_patient(patient_id).get(pk=grant.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.CaregiverGrantOutput(grant).data, status=code)


class CaregiverDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Revoke a caregiver's access",
        responses={204: None, **errors(403, 404, s403=ONLY_PATIENTS_CAREGIVERS)},
        operation_id="me_caregivers_destroy",
        description="The access ends at once (and the link, if unused); again: 204.",
    )
    def delete(self, request, grant_id: int):
        grant = caregivers.grants_of_patient(_own_profile_id(request.user)).filter(pk=grant_id)
        grant = grant.first()
        if grant is None:
            raise NotFound("No such caregiver.", code="not_found")
        caregivers.caregiver_grant_revoke(grant=grant, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaregivingView(APIView):
    """For a caregiver: the patients they act for, with the scopes of each."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The patients I am a caregiver for",
        responses={
            200: s.CaregivingOutput(many=True),
            **errors(403, s403="Only caregivers act for patients."),
        },
        operation_id="me_caregiving_list",
    )
    def get(self, request):
        if request.user.role != Role.CAREGIVER:
            raise Forbidden("Only caregivers act for patients.", code="permission_denied")
        grants = list(caregivers.grants_of_caregiver(request.user))
        phi_access_record(
            user=request.user,
            patient_ids={grant.patient_id for grant in grants},
            action="list",
            resource="caregiving",
            request=request,
        )
        return Response(s.CaregivingOutput(grants, many=True).data)
