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

from accounts.selectors import own_patient_id
from config.errors import Invalid

from . import openapi, protocol
from .selectors import PreparedPull, sync_pull, sync_pull_page
from .services import sync_push


class IsSyncingPatient(BasePermission):
    """Only patients sync, and only their own record: the patient is the caller."""

    message = "Only patients sync; the care team uses the API and the admin."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and own_patient_id(user) is not None)


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
        },
    )
    def get(self, request):
        params = request.query_params
        schema_version = protocol.parse_schema_version(params.get("schema_version"), required=True)
        patient_id = own_patient_id(request.user)
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
        body["cursor"] = (
            None
            if following is None
            else protocol.write_cursor(following, user_id=request.user.pk, patient_id=patient_id)
        )
        return HttpResponse(orjson.dumps(body), content_type="application/json")


class SyncPushView(APIView):
    permission_classes = [IsAuthenticated, IsSyncingPatient]

    @extend_schema(
        operation_id="sync_push",
        summary="WatermelonDB push: apply the device's changes; refused records are kept apart",
        parameters=[
            LAST_PULLED_AT,
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
            403: OpenApiResponse(openapi.SyncErrorResponse, description="Not a patient"),
            409: OpenApiResponse(
                openapi.ConflictResponse, description="Changed on the server since the pull"
            ),
            413: OpenApiResponse(openapi.TooLargeResponse, description="Too many bytes or records"),
        },
    )
    def post(self, request):
        body = protocol.read_push_body(request)
        last_pulled_at = protocol.parse_timestamp(
            request.query_params.get("last_pulled_at"), required=True
        )
        protocol.parse_schema_version(request.query_params.get("schema_version"), required=False)
        batch = protocol.parse_push_body(protocol.load_push_body(body))
        rejected = sync_push(
            actor=request.user,
            patient=request.user.patient_profile,
            last_pulled_at=last_pulled_at,
            batch=batch,
            device=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response({"ok": True, "rejected": rejected}, status=status.HTTP_200_OK)
