"""The two sync endpoints (design.md section 5, docs/sync.md). Thin: read the input, call the
selector or the service, answer."""

import orjson
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import phi_access_record
from accounts.models import PatientProfile, Role
from accounts.selectors import own_patient_id, patients_for
from config.errors import Invalid, NotFound

from . import openapi, protocol
from .caregivers import (
    caregiver_ended_pull,
    caregiver_ended_push,
    ever_granted_patient,
    had_grant,
)
from .selectors import PreparedPull, sync_pull, sync_pull_page
from .services import sync_push


class IsSyncingPatient(BasePermission):
    """Patients sync their own record; caregivers the record of a patient who granted them
    ``read`` (``sync_patient``). The care team uses the API and the admin."""

    message = "Only patients and their caregivers sync; the care team uses the API and the admin."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return own_patient_id(user) is not None or (user.role == Role.CAREGIVER and user.is_active)


PATIENT_PARAMETER = OpenApiParameter(
    "patient",
    OpenApiTypes.INT,
    description="Caregivers: the patient whose record to sync (one patient per pull and push; "
    "optional for a caregiver of one patient). Patients leave it out.",
)
NOT_IN_SCOPE = (
    "You no longer have access to this patient's record (the access was withdrawn or has "
    "ended): remove this patient's data from the device."
)
INBOX = "notifications"  # the patient's own inbox: never sent to a caregiver


class AccessEnded(NotFound):
    """A caregiver without ``read`` on the patient (``patient_id``: the one named, if any): the
    404 ``not_in_scope``, unless their access ended (``recovery.sync.caregivers``)."""

    def __init__(self, patient_id: int | None):
        super().__init__(NOT_IN_SCOPE, code="not_in_scope")
        self.patient_id = patient_id


def ended_patient_id(request, exc: AccessEnded) -> int | None:
    """The patient an ended caregiver's pull or push is about: the one named, or the one patient
    they ever had a grant for."""
    if exc.patient_id is not None:
        return exc.patient_id
    return ever_granted_patient(caregiver_id=request.user.pk)


def sync_patient(request) -> PatientProfile:
    """The patient whose record this pull or push is about (``sync_patient_of``), loaded."""
    _, patient = sync_patient_of(request)
    return patient if patient is not None else request.user.patient_profile


def sync_patient_of(request) -> tuple[int, PatientProfile | None]:
    """The patient whose record this pull or push is about: a patient's own (their id, known
    from authentication: no query, no profile loaded); for a caregiver, ``?patient=`` among the
    patients whose active grant carries ``read`` (a 404 ``not_in_scope`` otherwise: the app
    drops that patient's data), with the profile."""
    user = request.user
    raw = request.query_params.get("patient")
    patient_id = None
    if raw not in (None, ""):
        try:
            patient_id = int(raw)
        except ValueError:
            raise Invalid("A patient id (an integer).", code="invalid", attr="patient") from None
    own = own_patient_id(user)
    if own is not None:
        if patient_id is not None and patient_id != own:
            raise NotFound(NOT_IN_SCOPE, code="not_in_scope")
        return own, None
    patients = patients_for(user, "read")
    if patient_id is None:
        found = list(patients[:2])
        if not found:
            raise AccessEnded(None)
        if len(found) > 1:
            raise Invalid(
                "Name the patient to sync (?patient=): see GET /api/v1/me/caregiving/.",
                code="required",
                attr="patient",
            )
        return found[0].pk, found[0]
    patient = patients.filter(pk=patient_id).first()
    if patient is None:
        raise AccessEnded(patient_id)
    return patient.pk, patient


def _for_caregiver(request, body: dict, patient_id: int) -> dict:
    """A caregiver's pull: without the patient's inbox, and written to the PHI access log."""
    if own_patient_id(request.user) is None:
        if INBOX in body["changes"]:
            body["changes"][INBOX] = {"created": [], "updated": [], "deleted": []}
        phi_access_record(
            user=request.user,
            patient_ids=[patient_id],
            action="sync",
            resource="record",
            request=request,
        )
    return body


LAST_PULLED_AT = OpenApiParameter(
    "last_pulled_at",
    OpenApiTypes.STR,
    description="The `timestamp` of the last pull (an integer), or `null` before the first.",
)


def _one_shot_params(params) -> dict | None:
    """A one-shot pull's parameters, parsed; None for a paged pull (``page_size``/``cursor``)."""
    schema_version = protocol.parse_schema_version(params.get("schema_version"), required=True)
    if protocol.parse_page_size(params.get("page_size")) is not None:
        return None
    if params.get("cursor") not in (None, "", "null"):
        return None
    return {
        "last_pulled_at": protocol.parse_timestamp(params.get("last_pulled_at"), required=False),
        "schema_version": schema_version,
        "migration": protocol.parse_migration(
            params.get("migration"), schema_version=schema_version
        ),
    }


def _batched_body(request, *, patient_id: int, params: dict) -> dict | None:
    """The pull sent with the user's lookup, when it is the one this request asks for."""
    batch = getattr(request.successful_authenticator, "batch", None)
    if not isinstance(batch, PreparedPull) or batch.read_results is None:
        return None
    if (batch.last_pulled_at, batch.schema_version, batch.migration) != (
        params["last_pulled_at"],
        params["schema_version"],
        params["migration"],
    ):
        return None
    return batch.body(patient_id=patient_id)


class SyncPullView(APIView):
    permission_classes = [IsAuthenticated, IsSyncingPatient]

    def batch_for_user(self, request, user_id):
        """A one-shot pull with well-formed parameters, sent in the same round trip as the
        authentication's user lookup (the patient named by the token's user id), so the
        request a phone makes most is one query (docs/sync.md, "How the incremental pull stays
        cheap"). The user's checks, the permission (``IsSyncingPatient``) and the parameters'
        errors come after it exactly as without: ``get`` uses the batch only when it locked
        the clock of the caller's own patient, for the parameters it parses itself."""
        if connection.vendor != "postgresql":
            return None
        try:
            params = _one_shot_params(request.query_params)
        except Invalid:
            return None  # get() answers the 400, after authentication and permissions
        if params is None:
            return None
        return PreparedPull(key=user_id, by_user=True, **params)

    @extend_schema(
        operation_id="sync_pull",
        summary="WatermelonDB pull: changes since last_pulled_at",
        parameters=[
            LAST_PULLED_AT,
            PATIENT_PARAMETER,
            OpenApiParameter(
                "schema_version",
                OpenApiTypes.INT,
                required=True,
                description="The app's sync schema version (see docs/sync.md for the range).",
            ),
            OpenApiParameter(
                "migration",
                OpenApiTypes.STR,
                description='WatermelonDB migration as JSON (`{"from": 1, "tables": [], "columns": []}`) or `null`.',
            ),
            OpenApiParameter(
                "page_size",
                OpenApiTypes.INT,
                description="Asks for a paged pull: at most this many records per page "
                "(1 to SYNC_PULL_MAX_PAGE_SIZE). The answer then carries `cursor`.",
            ),
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                description="The `cursor` of the previous page: the next page of the same pull "
                "(`last_pulled_at` and `migration` are then taken from it).",
            ),
        ],
        responses={
            200: openapi.PullResponse,
            400: OpenApiResponse(openapi.SyncErrorResponse, description="Bad parameter"),
            403: OpenApiResponse(openapi.SyncErrorResponse, description="Not a patient"),
            404: OpenApiResponse(
                openapi.SyncErrorResponse,
                description="Caregivers: no access to this patient (any more): drop its data",
            ),
        },
    )
    def get(self, request):
        params = request.query_params
        schema_version = protocol.parse_schema_version(params.get("schema_version"), required=True)
        try:
            patient_id, _ = sync_patient_of(request)
        except AccessEnded as exc:
            return self.ended(request, exc, schema_version=schema_version)
        page_size = protocol.parse_page_size(params.get("page_size"))
        cursor = params.get("cursor")
        if cursor in (None, "", "null"):
            last_pulled_at = protocol.parse_timestamp(params.get("last_pulled_at"), required=False)
            migration = protocol.parse_migration(
                params.get("migration"), schema_version=schema_version
            )
            if page_size is None:  # the one-shot pull
                params = {
                    "last_pulled_at": last_pulled_at,
                    "schema_version": schema_version,
                    "migration": migration,
                }
                body = _batched_body(request, patient_id=patient_id, params=params)
                if body is None:
                    body = sync_pull(patient_id=patient_id, **params)
                body = _for_caregiver(request, body, patient_id)
                return HttpResponse(orjson.dumps(body), content_type="application/json")
            position = protocol.PullPosition(
                schema_version=schema_version,
                page_size=page_size,
                since=last_pulled_at,
                whole=migration.tables
                if (migration and last_pulled_at is not None)
                else frozenset(),
            )
        else:
            position = protocol.read_cursor(
                cursor,
                user_id=request.user.pk,
                patient_id=patient_id,
                schema_version=schema_version,
                page_size=page_size,
            )
        body, following = sync_pull_page(patient_id=patient_id, position=position)
        body = _for_caregiver(request, body, patient_id)
        body["cursor"] = (
            None
            if following is None
            else protocol.write_cursor(following, user_id=request.user.pk, patient_id=patient_id)
        )
        return HttpResponse(orjson.dumps(body), content_type="application/json")

    def ended(self, request, exc: AccessEnded, *, schema_version: int):
        """A caregiver whose access ended: the ids they may hold as deletions, once; else the
        404 (docs/sync.md, "Caregivers")."""
        params = request.query_params
        patient_id = ended_patient_id(request, exc)
        paged = protocol.parse_page_size(params.get("page_size")) is not None
        cursor = params.get("cursor")
        if cursor in (None, "", "null"):
            since = protocol.parse_timestamp(params.get("last_pulled_at"), required=False)
            protocol.parse_migration(params.get("migration"), schema_version=schema_version)
        elif patient_id is None:
            raise exc
        else:
            paged = True
            since = protocol.read_cursor(
                cursor,
                user_id=request.user.pk,
                patient_id=patient_id,
                schema_version=schema_version,
                page_size=protocol.parse_page_size(params.get("page_size")),
            ).since
        body = caregiver_ended_pull(
            caregiver_id=request.user.pk,
            patient_id=patient_id,
            last_pulled_at=since,
            schema_version=schema_version,
        )
        if body is None:
            raise exc
        if paged:
            body["cursor"] = None
        return HttpResponse(orjson.dumps(body), content_type="application/json")


class SyncPushView(APIView):
    permission_classes = [IsAuthenticated, IsSyncingPatient]

    @extend_schema(
        operation_id="sync_push",
        summary="WatermelonDB push: apply the device's changes; refused records are kept apart",
        parameters=[
            LAST_PULLED_AT,
            PATIENT_PARAMETER,
            OpenApiParameter(
                "schema_version", OpenApiTypes.INT, description="Optional; checked if given."
            ),
        ],
        request=openapi.PushRequest,
        responses={
            200: openapi.PushResponse,
            400: OpenApiResponse(
                openapi.SyncErrorResponse,
                description="A malformed body or parameter, or a record without a readable id; "
                "nothing applied",
            ),
            403: OpenApiResponse(
                openapi.SyncErrorResponse,
                description="Not a patient; or `consent_revoked`: a caregiver whose access "
                "ended, nothing applied, every record kept for the care team: drop its data",
            ),
            404: OpenApiResponse(
                openapi.SyncErrorResponse,
                description="Caregivers: no access to this patient: drop its data",
            ),
            409: OpenApiResponse(
                openapi.ConflictResponse, description="Changed on the server since the pull"
            ),
            413: OpenApiResponse(openapi.TooLargeResponse, description="Too many bytes or records"),
        },
    )
    def post(self, request):
        try:
            patient = sync_patient(request)
        except AccessEnded as exc:
            self.ended(request, exc)
            raise
        body = protocol.read_push_body(request)
        last_pulled_at = protocol.parse_timestamp(
            request.query_params.get("last_pulled_at"), required=True
        )
        protocol.parse_schema_version(request.query_params.get("schema_version"), required=False)
        batch = protocol.parse_push_body(protocol.load_push_body(body))
        rejected = sync_push(
            actor=request.user,
            patient=patient,
            last_pulled_at=last_pulled_at,
            batch=batch,
            device=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response({"ok": True, "rejected": rejected}, status=status.HTTP_200_OK)

    def ended(self, request, exc: AccessEnded) -> None:
        """A caregiver whose access ended: every record kept, then the 403 ``consent_revoked``
        (``caregiver_ended_push``); returns for the 404 when they never had access."""
        patient_id = ended_patient_id(request, exc)
        if not had_grant(caregiver_id=request.user.pk, patient_id=patient_id):
            return  # a stranger: the 404, nothing read, nothing kept
        body = protocol.read_push_body(request)
        last_pulled_at = protocol.parse_timestamp(
            request.query_params.get("last_pulled_at"), required=True
        )
        protocol.parse_schema_version(request.query_params.get("schema_version"), required=False)
        caregiver_ended_push(
            actor=request.user,
            patient_id=patient_id,
            last_pulled_at=last_pulled_at,
            batch=protocol.parse_push_body(protocol.load_push_body(body)),
            device=request.META.get("HTTP_USER_AGENT", ""),
        )
